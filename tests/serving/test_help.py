"""Every serving command answers --help without importing TensorFlow (so in well under 1 s)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline import configs

CHECK = """
import sys, contextlib, io
import {module} as command
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        command.main(["--help"])
    except SystemExit:
        pass
assert "usage" in out.getvalue().lower(), out.getvalue()
heavy = sorted(m for m in ("tensorflow", "tensorflow_serving", "grpc") if m in sys.modules)
print(",".join(heavy))
"""


@pytest.mark.parametrize(
    "module", ["serving.cli", "serving.example_client", "serving.tls", "cifar10_serving"]
)
def test_help_does_not_import_tensorflow(module):
    entry = "serve_main" if module == "cifar10_serving" else "main"
    code = CHECK.format(module=module).replace("command.main(", f"command.{entry}(")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=configs.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} --help imported {result.stdout.strip()}"
