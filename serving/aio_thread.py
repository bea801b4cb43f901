"""Run an asyncio server on a background thread, started and stopped synchronously.

The REST front end (and anything else in serving that needs an event loop) is driven from
plain threaded code: ``start()`` returns once the listener is bound (or raises what binding
raised), ``stop()`` closes it and joins the thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable


class LoopThread:
    """An event loop on its own daemon thread.

    ``setup`` runs on the loop before ``start()`` returns; ``teardown`` runs on it during
    ``stop()``. Exceptions from ``setup`` are re-raised in the caller of ``start()``.
    """

    def __init__(
        self,
        name: str,
        setup: Callable[[], Awaitable[None]],
        teardown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._setup, self._teardown = setup, teardown
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup())
            except BaseException as exc:  # handed to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            try:
                if self._teardown is not None:
                    loop.run_until_complete(self._teardown())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None or self.loop is None:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        self._thread = None
