"""Progress lines from TFX's node log records."""

from __future__ import annotations

import io
import logging
import sys

from pipeline import progress


def record(msg, *args):
    return logging.LogRecord("absl", logging.INFO, __file__, 1, msg, args, None)


def test_progress_lines_and_durations():
    out = io.StringIO()
    tracker = progress.ComponentProgress(out)
    tracker.emit(record("node %s is running.", "Transform"))
    tracker.emit(record("A cached execution %d is used.", 7))
    tracker.emit(record("node %s is finished.", "Transform"))
    tracker.emit(record("something else %s", "x"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("Transform ... running")
    assert "Transform ... done in" in lines[1] and lines[1].endswith("(cached)")
    assert tracker.durations["Transform"] >= 0


def test_errors_reach_the_terminal_without_their_traceback():
    try:
        raise ValueError("inner detail")
    except ValueError:
        failed = logging.LogRecord(
            "absl", logging.ERROR, __file__, 1, "[%s] failed", ("Trainer",), sys.exc_info()
        )
    shown = progress.WithoutTraceback().format(failed)
    assert shown == "[Trainer] failed (traceback in the run's log file)"
    plain = logging.LogRecord("absl", logging.ERROR, __file__, 1, "no %s", ("stack",), None)
    assert progress.WithoutTraceback().format(plain) == "no stack"
    assert "Traceback" in logging.Formatter().format(failed), "the file keeps it"


def test_progress_goes_to_stdout_as_it_is_when_the_run_starts(monkeypatch):
    """Not the stdout of import time: hosts (pytest, Airflow) redirect it later."""
    import io

    from pipeline import progress

    later = io.StringIO()
    monkeypatch.setattr("sys.stdout", later)
    assert progress.ComponentProgress().stream is later
