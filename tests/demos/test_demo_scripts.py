"""What scripts/demo_drift_retrain.sh shows of the release watcher while it works: its own
lines, the pipeline's per-component progress and the evaluation summary, in the order
they were written (the script follows the watcher's output as it grows)."""

from __future__ import annotations

import io
import logging
import re
import subprocess

from pipeline import configs
from pipeline.progress import ComponentProgress
from rollout.release.outcome import say

SCRIPT = configs.REPO_ROOT / "scripts" / "demo_drift_retrain.sh"


def watch_lines_pattern() -> str:
    match = re.search(r"^WATCH_LINES='([^']*)'$", SCRIPT.read_text(), re.MULTILINE)
    assert match, "WATCH_LINES not found in the script"
    return match.group(1)


def progress_lines() -> list[str]:
    out = io.StringIO()
    progress = ComponentProgress(out)
    for message in ("node %s is running.", "node %s is finished."):
        progress.emit(logging.LogRecord("tfx", logging.INFO, "", 0, message, ("Trainer",), None))
    return out.getvalue().splitlines()


def test_the_watch_filter_keeps_progress_release_lines_and_the_summary_in_order(capsys):
    say("retrain request 1234abcd claimed: input drift")
    released = capsys.readouterr().out.splitlines()
    running, done = progress_lines()
    lines = [
        released[0],
        "INFO:absl:some TFX chatter",
        running,
        done,
        "test accuracy (candidate): 0.4580",
        "W0000 tensorflow warning",
    ]
    shown = subprocess.run(
        ["grep", "--line-buffered", "-E", watch_lines_pattern()],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.splitlines()
    assert shown == [released[0], done, "test accuracy (candidate): 0.4580"]


def test_the_outcome_is_printed_after_the_watchers_log():
    text = SCRIPT.read_text()
    step4 = text[text.index('banner "4/5') :]
    assert step4.index('tail -n +1 -f --pid="$WATCHER"') < step4.index("--for outcome")
