"""``python -m tests.rollout.crash_cli STEP <cifar10-rollout args>``: the rollout CLI, killed
hard (``os._exit(86)``, no cleanup, like a power cut) right after one write of a commit.

STEP is ``state`` (the state with the pending decision), ``config`` (the model config) or
``history`` (the history line). The hook lives here, not in rollout/canary/manager.py: production
code carries no test switches.
"""

from __future__ import annotations

import os
import sys

from rollout import atomic_io, cli
from rollout.canary import manager as manager_module

EXIT_KILLED = 86
STEPS = ("state", "config", "history")


def arm(step: str) -> None:
    """Patch the manager's writers so the process dies right after ``step``'s write."""
    if step not in STEPS:
        raise SystemExit(f"unknown step {step!r}; choose from {STEPS}")
    write_state, write_text, append = (
        manager_module.write_state,
        atomic_io.write_text_atomic,
        atomic_io.append_jsonl,
    )

    def state_then_die(path, state):
        write_state(path, state)
        if step == "state" and state.pending is not None:
            os._exit(EXIT_KILLED)

    def text_then_die(path, text):
        write_text(path, text)
        if (
            step == "config"
            and os.path.basename(path) == cli.serving_defaults.MODEL_CONFIG_FILENAME
        ):
            os._exit(EXIT_KILLED)

    def append_then_die(path, record):
        append(path, record)
        if step == "history":
            os._exit(EXIT_KILLED)

    manager_module.write_state = state_then_die
    atomic_io.write_text_atomic = text_then_die
    atomic_io.append_jsonl = append_then_die


if __name__ == "__main__":
    arm(sys.argv[1])
    sys.exit(cli.main(sys.argv[2:]))
