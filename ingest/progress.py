"""Progress of a long ingest, handed to a callback the runner prints (the data layer never prints).

A callback gets a :class:`Progress` every ``settings.PROGRESS_EVERY`` images of a stage and at
its end, so 20,000 images make about twenty lines rather than twenty thousand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ingest import settings

CHECKING, WRITING = "checking image headers", "writing examples"


@dataclass(frozen=True)
class Progress:
    stage: str  # CHECKING or WRITING
    done: int
    total: int

    def __str__(self) -> str:
        return f"{self.stage}: {self.done:,}/{self.total:,}"


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """Counts the images of one stage and calls ``callback`` every ``every`` of them."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        stage: str,
        total: int,
        every: int | None = None,
    ) -> None:
        self.callback, self.stage, self.total = callback, stage, total
        self.every = every or settings.PROGRESS_EVERY
        self.done = 0

    def step(self) -> None:
        self.done += 1
        if self.callback is not None and self.done % self.every == 0 and self.done < self.total:
            self.callback(Progress(self.stage, self.done, self.total))

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(Progress(self.stage, self.done, self.total))
