"""Readable progress for a TFX run: which component runs, how long each took.

TFX reports node starts/finishes through absl INFO logs, which are far too chatty to show.
This handler keeps the full INFO log in a file and prints one line per component event.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

_START = "node %s is running."
_FINISH = "node %s is finished."
_CACHED = "A cached execution %d is used."


class ComponentProgress(logging.Handler):
    """Turns BeamDagRunner's node log records into ``[  12.3s] Trainer ... done (8.1s)``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(logging.INFO)
        # None: whatever sys.stdout is when the run starts (not when this module was
        # imported: a host may have redirected it since, e.g. a test capturing output).
        self.stream = stream or sys.stdout
        self.t0 = time.monotonic()
        self.started: dict[str, float] = {}
        self.durations: dict[str, float] = {}
        self.cached: set[str] = set()
        self._current: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == _START and args:
            node = str(args[0])
            self.started[node] = time.monotonic()
            self._current = node
            self._print(f"{node} ... running")
        elif record.msg == _CACHED and self._current:
            self.cached.add(self._current)
        elif record.msg == _FINISH and args:
            node = str(args[0])
            took = time.monotonic() - self.started.get(node, self.t0)
            self.durations[node] = took
            tag = " (cached)" if node in self.cached else ""
            self._print(f"{node} ... done in {took:.1f}s{tag}")

    def _print(self, text: str) -> None:
        self.stream.write(f"[{time.monotonic() - self.t0:7.1f}s] {text}\n")
        self.stream.flush()


class WithoutTraceback(logging.Formatter):
    """An error's message on the terminal, its traceback only in the log file: a failed
    component's stack (TFX logs it at ERROR) is for the log, the run's last line says what
    failed."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info or record.exc_text:
            text += " (traceback in the run's log file)"
        return text


def install(log_file: Path, stream: TextIO | None = None) -> ComponentProgress:
    """Route absl/TFX INFO logs to ``log_file`` (not the terminal) and attach progress output."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    from absl import logging as absl_logging

    # Through absl's own API: it sets the --verbosity flag, so a later flag parse inside TFX
    # does not reset the level to WARNING.
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger = logging.getLogger("absl")
    absl_logger.propagate = False
    for handler in list(absl_logger.handlers):
        absl_logger.removeHandler(handler)
    file_handler = logging.FileHandler(log_file)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    absl_logger.addHandler(file_handler)
    warnings_handler = logging.StreamHandler(sys.stderr)
    warnings_handler.setLevel(logging.ERROR)
    warnings_handler.setFormatter(WithoutTraceback())
    absl_logger.addHandler(warnings_handler)
    # Beam and TF log through the root logger too (Python's default "WARNING:name:msg" on
    # stderr): same split, full text to the file, only errors to the terminal. Plain stream
    # handlers only, so a host's own handlers (pytest's capture, Airflow's) stay.
    for logger in (logging.getLogger(), logging.getLogger("tensorflow")):
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        if logger.name == "tensorflow":  # TF attaches its own stderr handler
            logger.propagate = False
        logger.addHandler(file_handler)
        logger.addHandler(warnings_handler)
    progress = ComponentProgress(stream)
    absl_logger.addHandler(progress)
    return progress


@contextlib.contextmanager
def captured(log_file: Path, stream: TextIO | None = None) -> Iterator[ComponentProgress]:
    """:func:`install` for the length of a ``with`` block, then the logging set-up as it was.

    For callers that run the pipeline inside a longer-lived program (the release loop, the
    tests), whose own logging must not stay rewired after the run.
    """
    names = ("absl", "", "tensorflow")
    saved = {
        n: (
            list(logging.getLogger(n).handlers),
            logging.getLogger(n).propagate,
            logging.getLogger(n).level,
        )
        for n in names
    }
    added: list[logging.Handler] = []
    try:
        tracker = install(log_file, stream)
        added = [h for n in names for h in logging.getLogger(n).handlers if h not in saved[n][0]]
        yield tracker
    finally:
        for n, (handlers, propagate, level) in saved.items():
            logger = logging.getLogger(n)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.setLevel(level)
        for handler in {id(h): h for h in added}.values():
            handler.close()
