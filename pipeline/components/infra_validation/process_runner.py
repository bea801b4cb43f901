"""The local-process platform: the project's TF-Serving-compatible server as a child process
on the candidate, behind TFX's ``BaseModelServerRunner`` interface."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from absl import logging
from tfx.components.infra_validator import error_types, serving_bins
from tfx.components.infra_validator.model_server_runners import base_runner
from tfx.proto import infra_validator_pb2
from tfx.utils.model_paths import tf_serving_flavor

from pipeline import configs

# The local server: TF Serving's command line, served by this project's `serving` package.
SERVER_MODULE = "serving.cli"
PROJECT_ROOT = Path(__file__).resolve().parents[3]  # so the child finds `serving` uninstalled
SERVER_STOP_SECONDS = 10.0  # SIGTERM grace before SIGKILL
POLL_SECONDS = 0.1  # process/port polling while the server loads the model
LOG_TAIL_LINES = 40


class ModelRejected(error_types.ValidationFailed):
    """The model server rejected the *model* (did not load it, or failed a request).

    Deterministic for a given model and server, so it is not retried."""


def _free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free right now (bound together, then released).

    Another process could take one before the server binds it; the server then exits with a
    bind error, which is an infrastructure failure and is retried."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((configs.SERVING_HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _server_error_line(log: str) -> str | None:
    """The server's own start-up failure line (TF Serving's wording), else its last line."""
    lines = log_tail(log, 10_000)
    for line in reversed(lines):
        if "Failed to start server" in line:
            return line.strip()
    return lines[-1].strip() if lines else None


class LocalProcessRunner(base_runner.BaseModelServerRunner):
    """Runs the project's TF-Serving-compatible server as a child process on the candidate.

    It takes ``tensorflow_model_server``'s flags, so the child gets the same command line a
    ``tensorflow/serving`` container would (model name, model base path, gRPC and REST
    ports). The server only binds its ports once the model is loaded, and exits with status
    255 if it cannot load it, so "running" here means: our process is alive and its gRPC
    port accepts connections. Its stdout and stderr go to a log file, returned by
    :meth:`GetLogs` so a failure says why.
    """

    def __init__(
        self,
        model_path: str,
        serving_binary: serving_bins.ServingBinary,
        serving_spec: infra_validator_pb2.ServingSpec,
        command: Sequence[str] | None = None,
    ) -> None:
        """``model_path``: a TF-Serving-flavoured ``<base>/<model_name>/<version>`` path.
        ``command``: the server executable (default ``python -m serving.cli``)."""
        base, model_name, _ = tf_serving_flavor.parse_model_path(
            model_path, expected_model_name=serving_spec.model_name
        )
        self._model_name = model_name
        self._model_base_path = os.path.join(base, model_name)
        self._serving_binary = serving_binary
        self._command = list(command or [sys.executable, "-m", SERVER_MODULE])
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None
        self._final_log: str | None = None
        self._grpc_port = 0
        self._rest_port = 0
        self._endpoint: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"LocalProcessRunner({' '.join(self._command)} --model_name={self._model_name} "
            f"--model_base_path={self._model_base_path}, standing in for "
            f"{getattr(self._serving_binary, 'image', '?')})"
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def args(self) -> list[str]:
        """The server's command line (TF Serving flags)."""
        return [
            *self._command,
            f"--port={self._grpc_port}",
            f"--rest_api_port={self._rest_port}",
            f"--model_name={self._model_name}",
            f"--model_base_path={self._model_base_path}",
            # A load failure is final for one model version: fail now, not after TF
            # Serving's default 5 retries x 60 s.
            "--max_num_load_retries=0",
        ]

    def GetEndpoint(self) -> str:
        assert self._endpoint is not None, "the model server is not running yet"
        return self._endpoint

    def Start(self) -> None:
        assert self._process is None, "a runner starts its server once"
        self._grpc_port, self._rest_port = _free_ports(2)
        fd, self._log_path = tempfile.mkstemp(prefix="infra-validation-server-", suffix=".log")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        logging.info("Starting the model server: %s", " ".join(self.args()))
        with os.fdopen(fd, "wb") as log:
            self._process = subprocess.Popen(
                self.args(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def WaitUntilRunning(self, deadline: float) -> None:
        assert self._process is not None, "Start() first"
        while time.time() < deadline:
            code = self._process.poll()
            if code is not None:
                self._raise_exited(code)
            try:
                with socket.create_connection(
                    (configs.SERVING_HOST, self._grpc_port), timeout=POLL_SECONDS
                ):
                    pass
            except OSError:
                time.sleep(POLL_SECONDS)
                continue
            if self._process.poll() is None:
                self._endpoint = f"{configs.SERVING_HOST}:{self._grpc_port}"
                return
        raise error_types.DeadlineExceeded(
            "Deadline exceeded while the model server was loading the model."
        )

    def _raise_exited(self, code: int) -> None:
        log = self.GetLogs() or ""
        line = _server_error_line(log) or "(no output)"
        message = f"the model server exited with status {code} before serving: {line}"
        if "did not become available" in log:  # the server's "could not load the model"
            raise ModelRejected(message)
        raise error_types.JobAborted(message)

    def GetLogs(self) -> str | None:
        if self._final_log is not None:
            return self._final_log
        if not self._log_path or not os.path.exists(self._log_path):
            return None
        with open(self._log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def Stop(self) -> None:
        """SIGTERM (the server drains and exits), SIGKILL after a grace period; keeps the log
        in memory and removes the file. Safe to call twice and before Start completed."""
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(SERVER_STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    logging.warning("The model server ignored SIGTERM; killing it.")
                    process.kill()
                    process.wait()
            if self._log_path and self._final_log is None:
                self._final_log = self.GetLogs() or ""
                try:
                    os.remove(self._log_path)
                except OSError:
                    pass
