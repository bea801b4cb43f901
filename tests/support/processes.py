"""Processes a test starts (database servers, Prometheus, Chromium, Airflow's scheduler, Beam's
job service, the model server's command line): started with a log file, awaited by a
readiness probe, stopped in bounded time, and explained by their log when they fail.

Every server fixture goes through :func:`running_process`, so each one gets the same
guarantees: a process that dies while the test waits for it fails at once with its log's
tail (not after the whole timeout), a process that never becomes ready fails naming what was
awaited, and teardown never hangs (the stop signal, a bounded wait, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.support.waiting import wait_until

T = TypeVar("T")
LOG_TAIL_CHARS = 3000


class ProcessExited(RuntimeError):
    """A started process ended while the test still needed it."""


@dataclass
class StartedProcess:
    """A running command whose stdout and stderr go to ``log_path``."""

    popen: subprocess.Popen
    log_path: Path
    what: str
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 30.0
    own_session: bool = False  # stop signals reach everything it started

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log_text()
        return text[-chars:] if text else "(empty log)"

    def check_running(self) -> None:
        """Raise :class:`ProcessExited` with the log's tail if the process has ended."""
        code = self.popen.poll()
        if code is not None:
            raise ProcessExited(
                f"{self.what} exited with code {code}; {self.log_path} ends with:\n"
                f"{self.log_tail()}"
            )

    def wait_ready(
        self,
        probe: Callable[[], T],
        *,
        timeout: float = 60.0,
        interval: float = 0.2,
        retry_on: tuple[type[BaseException], ...] = (),
    ) -> T:
        """Poll ``probe`` until it returns something truthy (returned); fail at once if the
        process exits, and with the log's tail if ``timeout`` passes first."""

        def ready() -> T:
            self.check_running()
            return probe()

        try:
            return wait_until(
                ready,
                f"{self.what} to be ready",
                timeout=timeout,
                interval=interval,
                retry_on=retry_on,
            )
        except TimeoutError as error:
            raise TimeoutError(f"{error}; {self.log_path} ends with:\n{self.log_tail()}") from None

    def wait_for_log(self, text: str, *, timeout: float = 60.0) -> None:
        """Wait until ``text`` appears in the process's log (its "I am listening" line)."""
        self.wait_ready(lambda: text in self.log_text(), timeout=timeout)

    def stop(self) -> int:
        """Send the stop signal, wait up to ``stop_timeout`` s, then SIGKILL; the exit code.

        With ``own_session`` the signals go to the process group, and whatever is still in
        the session afterwards (children that made process groups of their own) is killed,
        so no worker outlives the test. Only processes of this session are touched."""
        if self.running():
            self._signal(self.stop_signal)
            try:
                self.popen.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        if self.own_session:
            _kill_session(self.pid)
        return self.popen.returncode

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.own_session:
                os.killpg(self.pid, signum)
            else:
                self.popen.send_signal(signum)


def start_process(
    command: Sequence[str | os.PathLike[str]],
    log_path: Path,
    *,
    what: str,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 30.0,
    own_session: bool = False,
    **popen_options: Any,
) -> StartedProcess:
    """Start ``command`` with stdout and stderr appended to ``log_path``.

    ``popen_options`` go to :class:`subprocess.Popen` (``env``, ``cwd``, ``user``, ...);
    ``own_session`` starts it in a new session (its own process group) so :meth:`stop`
    reaches its children too."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            [str(part) for part in command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
            **popen_options,
        )
    return StartedProcess(popen, log_path, what, stop_signal, stop_timeout, own_session)


@contextlib.contextmanager
def running_process(
    command: Sequence[str | os.PathLike[str]],
    log_path: Path,
    *,
    what: str,
    **options: Any,
) -> Iterator[StartedProcess]:
    """:func:`start_process` as a context manager: stopped on exit, whatever happened."""
    process = start_process(command, log_path, what=what, **options)
    try:
        yield process
    finally:
        process.stop()


def _kill_session(session_id: int) -> None:
    """SIGKILL every process left in session ``session_id`` (found by session id, never by
    name, so nothing else on the machine is touched)."""
    import psutil

    for proc in psutil.process_iter():
        with contextlib.suppress(ProcessLookupError, psutil.Error, OSError):
            if proc.pid != os.getpid() and os.getsid(proc.pid) == session_id:
                proc.kill()
