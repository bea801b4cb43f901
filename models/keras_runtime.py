"""Process-wide TensorFlow settings: Keras 2, AutoGraph's rules, a quiet TensorFlow start.

The one home of the settings every process that runs TensorFlow needs, so entry points
(``beam_runner.py``, the ``cifar10-*`` commands, the Airflow DAGs, bench, tests) and the
packages TFX workers import (``models``, ``pipeline``) call a function instead of each
setting environment variables its own way.

* **Keras 2**: TFX 1.16 / TFMA 0.47 understand ``tf_keras`` models only, and TensorFlow
  picks its Keras when it is first imported, so :func:`use_tf_keras` must run before that.
* **AutoGraph**: TF 2.16's AutoGraph skips converting code from the modules in its
  do-not-convert rules, which name ``keras`` but not ``tf_keras`` (newer TensorFlow releases
  list it). So the first ``fit``/``evaluate``/``predict`` of every model transpiled tf_keras's
  own training loop, layer by layer: 14.7 s of a 15 s first epoch of the reference CNN here,
  against 1.05 s with the rule (``bench/keras_first_epoch.py``). tf_keras's code is written to
  be traced as is, so the rule changes no result, only time.
* **A quiet start** (:func:`prepare_entry_point`): the CPU wheel of TensorFlow 2.16 logs
  "Unable to register cuFFT/cuDNN/cuBLAS factory" at ERROR level when it loads, and
  google-api-core warns that Python 3.10 (which TFX 1.16 requires) is unsupported. Both look
  like failures on a newcomer's terminal and are neither. They are dropped by their exact
  text: raising ``TF_CPP_MIN_LOG_LEVEL`` to 3 instead would hide every real C++ error too.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import ModuleType

_TF_KERAS = "tf_keras"
LEGACY_KERAS_ENV = "TF_USE_LEGACY_KERAS"
TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
# 2: TensorFlow's C++ INFO and WARNING lines stay in the log level's off range; ERROR shows.
DEFAULT_TF_LOG_LEVEL = "2"

# The lines TensorFlow's CPU wheel prints while loading (tensorflow/tensorflow#62075): a
# plugin registered twice, harmless without a GPU.
TF_REGISTRATION_LINE = re.compile(
    r"Unable to register cu(FFT|DNN|BLAS) factory: Attempting to register factory for "
    r"plugin cu(FFT|DNN|BLAS) when one has already been registered"
)
# Google's notices about this environment, not about this program: google.api_core's
# Python-version FutureWarning (TFX 1.16 needs 3.10) and google.auth's about grpcio without
# post-quantum TLS (TFX 1.16 pins grpcio below 1.83). Matched from the message's start, as
# warnings filters and PYTHONWARNINGS do; any other FutureWarning still shows.
PYTHON_VERSION_WARNING = "You are using a non-supported Python version"
GRPCIO_PQC_WARNING = "grpcio < 1.83.0 does not support Post-Quantum Cryptography"
ENVIRONMENT_WARNINGS = (PYTHON_VERSION_WARNING, GRPCIO_PQC_WARNING)

log = logging.getLogger(__name__)
_FORWARD_DRAIN_SECONDS = 5.0  # a child that inherited the pipe may hold it open


def use_tf_keras() -> None:
    """Select Keras 2 (``tf_keras``) for TensorFlow; a value already set is kept.

    Has effect only before TensorFlow's first import: the ``models`` and ``pipeline``
    packages call it when imported (so TFX workers get it), entry points call
    :func:`prepare_entry_point` before they import anything heavy."""
    os.environ.setdefault(LEGACY_KERAS_ENV, "1")


def prepare_entry_point() -> None:
    """Everything a command sets before TensorFlow loads (idempotent, imports nothing heavy).

    Keras 2; TensorFlow's C++ INFO/WARNING lines off unless ``TF_CPP_MIN_LOG_LEVEL`` says
    otherwise; Google's environment warnings (:data:`ENVIRONMENT_WARNINGS`) ignored, here
    and (through ``PYTHONWARNINGS``) in child processes; TensorFlow's registration lines
    dropped from stderr when it is first imported, wherever that happens (other lines pass
    through)."""
    use_tf_keras()
    os.environ.setdefault(TF_LOG_LEVEL_ENV, DEFAULT_TF_LOG_LEVEL)
    entries = [e for e in os.environ.get("PYTHONWARNINGS", "").split(",") if e]
    for message in ENVIRONMENT_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message), category=FutureWarning)
        entry = f"ignore:{message}:FutureWarning"
        if entry not in entries:
            entries.append(entry)
    os.environ["PYTHONWARNINGS"] = ",".join(entries)
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


@contextlib.contextmanager
def stderr_lines_dropped(pattern: re.Pattern[str]) -> Iterator[None]:
    """For the block, pass every line written to file descriptor 2 through to stderr except
    those matching ``pattern``; the dropped ones go to this module's logger at DEBUG after
    the block (a run's log file may keep them).

    At the descriptor, not ``sys.stderr``: the lines come from C++. Lines are forwarded as
    they come (a thread reads a pipe), so a process killed in the block has shown what it
    wrote before; their order is kept."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    dropped: list[str] = []

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for raw in pipe:
                line = raw.decode(errors="replace")
                if pattern.search(line):
                    dropped.append(line.rstrip())
                else:
                    os.write(terminal, raw)

    forwarder = threading.Thread(target=forward, name="stderr-line-filter", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # closes the pipe's last writer: the forwarder reads to its end
        forwarder.join(_FORWARD_DRAIN_SECONDS)
        if not forwarder.is_alive():  # else a child inherited the pipe: leave it the copy
            os.close(terminal)
        for line in dropped:
            log.debug("dropped from stderr: %s", line)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs the first import of ``tensorflow`` inside :func:`stderr_lines_dropped`, then
    leaves ``sys.meta_path``: the lines come once per process, when the library loads."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def quiet_exec_module(module: ModuleType) -> None:
            with stderr_lines_dropped(TF_REGISTRATION_LINE):
                exec_module(module)

        loader.exec_module = quiet_exec_module  # type: ignore[method-assign]
        return spec


def skip_autograph_for_tf_keras() -> None:
    """Add ``tf_keras`` to AutoGraph's do-not-convert rules (idempotent, any thread).

    Called by every code path that builds a model for training (``models.model``), so the
    Trainer gets it on whatever worker runs it, not only from our own entry points.
    """
    from tensorflow.python.autograph.core import config, config_lib

    if any(
        isinstance(rule, config_lib.DoNotConvert) and rule.matches(_TF_KERAS)
        for rule in config.CONVERSION_RULES
    ):
        return
    config.CONVERSION_RULES = (config_lib.DoNotConvert(_TF_KERAS), *config.CONVERSION_RULES)
