"""Which label serves a request: a weighted, optionally sticky choice between stable and
canary, with the weight read from the rollout state file (re-read when it changes)."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rollout import settings as rollout_settings
from rollout.state import read_state


def key_point(client_key: str) -> float:
    """A stable point in [0, 100) for a client key (same key, same point, in any process)."""
    digest = hashlib.sha256(client_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100.0


def choose_label(
    weight: float, client_key: str | None = None, rand: Callable[[], float] = random.random
) -> str:
    """``canary`` for ``weight`` percent of requests, else ``stable``.

    With a client key the choice is a threshold on the key's hash point, so a client stays
    on its label while the weight is unchanged, and a client already on the canary stays
    there when the weight grows (10% -> 50% -> 100%).
    """
    if weight <= 0:
        return rollout_settings.STABLE_LABEL
    if weight >= 100:
        return rollout_settings.CANARY_LABEL
    point = key_point(client_key) if client_key else rand() * 100.0
    return rollout_settings.CANARY_LABEL if point < weight else rollout_settings.STABLE_LABEL


@dataclass(frozen=True)
class Split:
    """The routing view of the rollout state."""

    stable: int | None
    canary: int | None
    weight: int
    # When the state file was last written (RolloutState.updated_at): the analysis loop
    # writes it every window, so the router exports it to tell a stopped loop from a
    # waiting one. Not part of the routing decision, hence not compared.
    updated_at: float | None = field(default=None, compare=False)

    def version_of(self, label: str) -> int | None:
        return {
            rollout_settings.STABLE_LABEL: self.stable,
            rollout_settings.CANARY_LABEL: self.canary,
        }.get(label)

    def label_of(self, version: int) -> str:
        if version == self.stable:
            return rollout_settings.STABLE_LABEL
        if version == self.canary:
            return rollout_settings.CANARY_LABEL
        return "pinned"


class StateWatcher:
    """Cheap access to the current split: stats the state file at most every
    ``poll_seconds`` and re-reads it only when its mtime/size changed."""

    def __init__(self, state_path: Path, poll_seconds: float = 0.5) -> None:
        self.state_path = Path(state_path)
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._checked = 0.0
        self._signature: tuple[int, int] | None = None
        self._split = Split(None, None, 0)

    def current(self) -> Split:
        now = time.monotonic()
        with self._lock:
            if now - self._checked >= self.poll_seconds:
                self._checked = now
                self._reload_if_changed()
            return self._split

    def _reload_if_changed(self) -> None:
        try:
            st = os.stat(self.state_path)
        except FileNotFoundError:
            self._signature, self._split = None, Split(None, None, 0)
            return
        signature = (st.st_mtime_ns, st.st_size)
        if signature == self._signature:
            return
        state = read_state(self.state_path)
        self._signature = signature
        weight = state.weight if state.canary is not None else 0
        self._split = Split(state.stable, state.canary, weight, state.updated_at)
