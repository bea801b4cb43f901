"""Run a benchmark's command line the way a user does, for the tests of its output."""

from __future__ import annotations

import subprocess
import sys

from pipeline import configs


def run_bench(module: str, *flags: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m bench.<module> FLAGS`` from the repository root, stdout and stderr
    captured as text; the exit code is the caller's to check."""
    return subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *flags],
        cwd=configs.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
