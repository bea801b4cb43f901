"""Every command of pyproject.toml answers ``--help`` without loading TensorFlow or TFX (their
import alone takes seconds), and prints usage, not TensorFlow's start-up noise."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def console_scripts() -> dict[str, str]:
    """``[project.scripts]`` of pyproject.toml (Python 3.10 has no tomllib; the table is
    plain ``name = "module:function"`` lines)."""
    text = (REPO / "pyproject.toml").read_text()
    table = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.]+:\w+)"', table, re.MULTILINE))


COMMANDS = console_scripts()
HEAVY = ("tensorflow", "tfx", "apache_beam", "tensorflow_transform", "ml_metadata")

PROBE = textwrap.dedent("""
    import importlib, sys
    module, function = sys.argv[1].split(":")
    main = getattr(importlib.import_module(module), function)
    try:
        main(["--help"])
    except SystemExit as e:
        code = e.code
    else:
        code = 0
    heavy = [m for m in sys.argv[2:] if m in sys.modules]
    print(f"exit={code} heavy={','.join(heavy)}", file=sys.stderr)
""")


def test_every_command_is_probed():
    assert set(COMMANDS) >= {
        "cifar10-pipeline",
        "cifar10-serve",
        "cifar10-rollout",
        "cifar10-release",
        "cifar10-report",
    }


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_loads_no_tensorflow(command):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, COMMANDS[command], *HEAVY],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    verdict = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.stderr
    assert verdict == "exit=0 heavy=", proc.stderr[-3000:]
    assert "usage:" in proc.stdout
    assert "Unable to register" not in proc.stderr and "FutureWarning" not in proc.stderr
