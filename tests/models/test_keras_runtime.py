"""The process settings of models/keras_runtime.py, each checked in a fresh interpreter (they
act at TensorFlow's first import, which this test process has long done)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REGISTRATION = (
    "E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:479] Unable to register "
    "cuFFT factory: Attempting to register factory for plugin cuFFT when one has already "
    "been registered"
)


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "PYTHONWARNINGS"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_use_tf_keras_selects_keras_2_and_keeps_a_value_already_set():
    code = """
        import os
        from models import keras_runtime
        keras_runtime.use_tf_keras()
        print(os.environ["TF_USE_LEGACY_KERAS"])
    """
    assert run_python(code).stdout.strip() == "1"
    assert run_python(code, {"TF_USE_LEGACY_KERAS": "0"}).stdout.strip() == "0"


def test_dropped_lines_are_only_the_registration_ones_and_the_rest_keep_their_order():
    code = f"""
        import os
        from models import keras_runtime
        with keras_runtime.stderr_lines_dropped(keras_runtime.TF_REGISTRATION_LINE):
            os.write(2, b"first real error\\n")
            os.write(2, {(REGISTRATION + chr(10)).encode()!r})
            os.write(2, b"second real error\\n")
        os.write(2, b"after\\n")
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "first real error\nsecond real error\nafter\n"


def test_lines_written_before_an_exception_still_reach_stderr():
    code = """
        import os
        from models import keras_runtime
        with keras_runtime.stderr_lines_dropped(keras_runtime.TF_REGISTRATION_LINE):
            os.write(2, b"what went wrong\\n")
            raise SystemExit(3)
    """
    result = run_python(code)
    assert result.returncode == 3
    assert result.stderr == "what went wrong\n"


def test_googles_environment_warnings_are_ignored_here_and_in_children_but_others_are_not():
    code = """
        import subprocess, sys, warnings
        from models import keras_runtime
        keras_runtime.prepare_entry_point()
        warnings.warn("You are using a non-supported Python version (3.10.13).", FutureWarning)
        warnings.warn("grpcio < 1.83.0 does not support Post-Quantum Cryptography (PQC).",
                      FutureWarning)
        warnings.warn("a real FutureWarning", FutureWarning)
        subprocess.run([sys.executable, "-c", "import warnings; warnings.warn("
                        "'You are using a non-supported Python version (3.10).', FutureWarning)"])
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "non-supported Python version" not in result.stderr
    assert "Post-Quantum" not in result.stderr
    assert "a real FutureWarning" in result.stderr


@pytest.mark.slow
def test_importing_tensorflow_after_prepare_entry_point_prints_no_registration_lines():
    result = run_python(
        """
        from models import keras_runtime
        keras_runtime.prepare_entry_point()
        import tensorflow as tf
        import tf_keras
        print(tf.keras.__name__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "Unable to register" not in result.stderr
    assert "non-supported Python version" not in result.stderr
    assert result.stdout.strip().startswith("tf_keras")


def test_lines_pass_through_while_the_block_runs_not_only_after_it():
    """A process killed inside the block (a hung TensorFlow import) has shown its lines."""
    code = textwrap.dedent("""
        import os, time
        from models import keras_runtime
        with keras_runtime.stderr_lines_dropped(keras_runtime.TF_REGISTRATION_LINE):
            os.write(2, b"still loading\\n")
            time.sleep(120)
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    try:
        ready, _, _ = select.select([child.stderr], [], [], 60)
        assert ready, "nothing reached stderr within 60 s"
        assert child.stderr.readline() == "still loading\n"
    finally:
        child.kill()
        child.wait(10)
