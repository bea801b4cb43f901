"""What a release may get beyond the library: traffic to judge a canary by, and a model to
push instead of training one.

The library has neither: in production the clients are real and the candidate comes from the
pipeline. The self-contained demo (``python -m demos.release``) plugs in a load generator and
fault injection through these hooks, so the demo tooling stays out of the library.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rollout.canary.manager import RolloutManager


class TrafficReport(Protocol):
    """What the clients saw: failures per label, and one line for the log."""

    failed: Mapping[str, int]

    def line(self) -> str: ...


class Traffic(Protocol):
    """Running traffic through the router; ``stop`` ends it and reports."""

    def stop(self) -> TrafficReport: ...


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """The library adds no flags of its own here."""


@dataclass(frozen=True)
class ReleaseTools:
    """Hooks for the release loop (all optional).

    ``add_arguments`` adds the flags the hooks read; ``candidate`` returns a version it
    pushed instead of training (None: train as usual); ``start_traffic`` starts clients
    against the router URL, registered on the stack for cleanup (None: no traffic).
    """

    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    candidate: Callable[[argparse.Namespace, RolloutManager], int | None] | None = None
    start_traffic: Callable[[ExitStack, str, argparse.Namespace], Traffic | None] | None = None


NO_TOOLS = ReleaseTools()
