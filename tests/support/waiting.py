"""Waiting for a condition with a deadline instead of a fixed sleep: the test goes on as soon
as the condition holds, and fails saying what it waited for when it never does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    what: str,
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that value (so a probe can hand back what it found).

    Exceptions of the types in ``retry_on`` count as "not yet" (e.g. a connection refused
    while a server starts); any other exception propagates at once. After ``timeout``
    seconds, :class:`TimeoutError` names ``what`` and the last retried error, if any.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except retry_on as error:
            last_error = error
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)
