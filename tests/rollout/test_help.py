"""``cifar10-rollout --help`` and ``cifar10-release --help`` print their usage without
importing TensorFlow or TFX (seconds of start-up for a usage text)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline import configs

PROBE = """
import contextlib, io, json, sys
from {module} import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(["--help"])
heavy = sorted(m for m in ("tensorflow", "tfx", "tensorflow_serving") if m in sys.modules)
print(json.dumps({{"code": code, "usage": out.getvalue(), "heavy": heavy}}))
"""


@pytest.mark.parametrize(
    "module, prog",
    [
        ("rollout.cli", "cifar10-rollout"),
        ("rollout.release.cli", "cifar10-release"),
        ("demos.release", "python -m demos.release"),
    ],
)
def test_help_imports_no_tensorflow(module, prog):
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=configs.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0 and result["usage"].startswith(f"usage: {prog}")
    assert result["heavy"] == [], f"{module} --help imported {result['heavy']}"
