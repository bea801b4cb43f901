"""Waiting for work done on another thread (the router's drift sampler, a watcher), with a
deadline instead of a fixed sleep: the test proceeds as soon as the condition holds and
fails, saying what it waited for, when it never does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], what: str, timeout: float = 10.0, interval: float = 0.02
) -> T:
    """Poll ``probe`` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
