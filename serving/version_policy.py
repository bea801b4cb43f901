"""Which versions of a model to serve: TF Serving's ``model_version_policy``.

``latest {num_versions: N}`` (the default, N=1), ``specific {versions: …}`` and ``all {}``.
The policy only says what *should* be loaded; the manager loads new versions before it
unloads old ones, so there is never a moment without a servable version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LATEST, SPECIFIC, ALL = "latest", "specific", "all"


@dataclass(frozen=True)
class VersionPolicy:
    kind: str = LATEST
    num_versions: int = 1
    versions: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in (LATEST, SPECIFIC, ALL):
            raise ValueError(f"unknown version policy {self.kind!r}")
        if self.kind == LATEST and self.num_versions < 1:
            raise ValueError("latest policy needs num_versions >= 1")
        if self.kind == SPECIFIC and not self.versions:
            raise ValueError("specific policy needs at least one version")

    def select(self, on_disk: Iterable[int]) -> set[int]:
        """The versions to serve out of those found on disk."""
        found = set(on_disk)
        if self.kind == ALL:
            return found
        if self.kind == SPECIFIC:
            return found & set(self.versions)
        return set(sorted(found)[-self.num_versions :])

    def describe(self) -> str:
        if self.kind == LATEST:
            return f"latest {self.num_versions}"
        if self.kind == SPECIFIC:
            return "specific " + ",".join(map(str, sorted(self.versions)))
        return "all"
