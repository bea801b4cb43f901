"""How a release ends (exit code, status, reason) and how it reports its steps."""

from __future__ import annotations

import time
from dataclasses import dataclass

EXIT_ROLLED_BACK = 3
ACTOR = "cifar10-release"


@dataclass(frozen=True)
class Outcome:
    """How one release ended: exit code, what happened, and why."""

    code: int
    status: str  # deployed | promoted | rolled_back | nothing | failed | unfinished
    reason: str

    @property
    def new_model_serving(self) -> bool:
        return self.status in ("deployed", "promoted")


def say(message: str) -> None:
    """One timestamped progress line on stdout (the demos filter on its ``[release`` prefix)."""
    print(f"[release {time.strftime('%H:%M:%S')}] {message}", flush=True)
