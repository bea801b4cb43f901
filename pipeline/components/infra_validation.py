"""InfraValidator: load the candidate in a model server and query it before it may be pushed.

The Evaluator proves the model is *accurate*; it loads it with TensorFlow in-process. A model
can pass that and still fail where it matters: in the model server (a serving signature that
cannot parse the examples clients send, an op the server cannot run, a SavedModel the
server's loader rejects). TFX's ``InfraValidator`` catches that by starting a real server on
the candidate, waiting for it to load and sending requests built from the examples. Its stock
runners need Docker or Kubernetes; here no container engine runs, so this module adds a
third *serving platform*: the project's TF-Serving-compatible server as a local process.

Platform selection (the stock ``ServingSpec`` proto, unchanged):

* ``serving_platform`` unset -> **local process**: ``python -m serving.cli`` with
  ``tensorflow_model_server``'s flags on free ports (this module's addition);
* ``local_docker`` / ``kubernetes`` -> TFX's stock runners with the real
  ``tensorflow/serving`` image (``serving_spec.tensorflow_serving.tags``), for production.

What this executor adds to the stock one (everything else is TFX's code path):

* failures are *explained*: the blessing artifact gets the custom property
  ``not_blessed_reason`` and a ``infra_validation.json`` file (reason, attempts, timings,
  the tail of the server's log), read back by :func:`read_infra_validation`;
* each request is sent with a timeout and its answer is checked (the stock client discards
  it and waits forever on a hung server);
* a *model* failure (the server could not load it, or answered a request with an error) is
  final: retrying it ``num_tries`` times would restart the server for the same answer. Only
  infrastructure failures (server died, port taken, deadline) are retried;
* a model whose signatures cannot be turned into requests is not blessed (with the reason)
  instead of failing the component.
"""

from __future__ import annotations

import argparse
import json
import logging as std_logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from absl import logging
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tfx import types
from tfx.components import InfraValidator
from tfx.components.infra_validator import error_types, request_builder, serving_bins
from tfx.components.infra_validator import executor as iv_executor
from tfx.components.infra_validator import types as iv_types
from tfx.components.infra_validator.model_server_runners import base_runner
from tfx.dsl.components.base import base_executor, executor_spec
from tfx.proto import infra_validator_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils
from tfx.utils.model_paths import tf_serving_flavor

from ingest import settings as ingest_settings
from models import features
from pipeline import configs
from serving import defaults as serving_defaults

COMPONENT_ID = "InfraValidator"
LOCAL_PROCESS = "local_process"  # this module's platform: serving_spec.serving_platform unset
PLATFORMS = (LOCAL_PROCESS, "local_docker", "kubernetes")

# Artifact contract (read by the Pusher and the run summary).
BLESSED_PROPERTY = "blessed"  # int 1/0: TFX's own, what the Pusher checks
REASON_PROPERTY = "not_blessed_reason"  # str: set only when not blessed
RESULT_FILE = "infra_validation.json"
BLESSED_MARKER = "INFRA_BLESSED"  # TFX's marker files
NOT_BLESSED_MARKER = "INFRA_NOT_BLESSED"

# The local server: TF Serving's command line, served by this project's `serving` package.
SERVER_MODULE = "serving.cli"
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # so the child finds `serving` uninstalled
SERVER_STOP_SECONDS = 10.0  # SIGTERM grace before SIGKILL
POLL_SECONDS = 0.1  # process/port polling while the server loads the model
REQUEST_TIMEOUT_SECONDS = 30.0  # per request; the first one also builds the graph
LOG_TAIL_LINES = 40

DEFAULT_NUM_EXAMPLES = 10  # one request per example, from the test split
DEFAULT_NUM_TRIES = 3  # infrastructure retries; model failures are never retried
DEFAULT_MAX_LOADING_SECONDS = 300  # TFX's default; the real model loads in ~5 s here

# gRPC codes that say "the infrastructure did not answer", not "the model answered no".
_TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    }
)


class ModelRejected(error_types.ValidationFailed):
    """The model server rejected the *model* (did not load it, or failed a request).

    Deterministic for a given model and server, so it is not retried."""


# --- the local-process model server runner ---------------------------------------------------


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


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _server_error_line(log: str) -> str | None:
    """The server's own start-up failure line (TF Serving's wording), else its last line."""
    lines = _tail(log, 10_000)
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


# --- the executor ----------------------------------------------------------------------------


@dataclass
class Attempt:
    """One start-load-query cycle of the model server."""

    number: int
    ok: bool
    seconds: float
    error: str | None = None
    load_seconds: float | None = None  # Start() -> model AVAILABLE (process start + load)
    query_seconds: float | None = None  # all requests answered
    server_log_tail: list[str] = field(default_factory=list)
    server_pid: int | None = None


def _describe(exc: BaseException) -> str:
    """A one-line reason: our own messages as they are, others with their type, short."""
    if isinstance(exc, error_types.InfraValidationError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 1000 else text[:997] + "..."


def _signature_of(request: iv_types.Request) -> str:
    return request.model_spec.signature_name or "serving_default"


def _send(
    stub: prediction_service_pb2_grpc.PredictionServiceStub, request: iv_types.Request
) -> list[str]:
    """Send one request; returns what the answer holds (output keys), raises if it is empty."""
    if isinstance(request, predict_pb2.PredictRequest):
        response = stub.Predict(request, timeout=REQUEST_TIMEOUT_SECONDS)
        outputs = sorted(response.outputs)
    elif isinstance(request, classification_pb2.ClassificationRequest):
        response = stub.Classify(request, timeout=REQUEST_TIMEOUT_SECONDS)
        outputs = ["classifications"] if response.result.classifications else []
    elif isinstance(request, regression_pb2.RegressionRequest):
        response = stub.Regress(request, timeout=REQUEST_TIMEOUT_SECONDS)
        outputs = ["regressions"] if response.result.regressions else []
    else:
        raise NotImplementedError(f"unsupported request type {type(request).__name__}")
    if not outputs:
        raise ModelRejected(
            f"the model server answered a {type(request).__name__} on "
            f"signature '{_signature_of(request)}' with no outputs"
        )
    return outputs


class InfraValidatorExecutor(iv_executor.Executor):
    """TFX's InfraValidator executor plus the local-process platform and explained results.

    ``Do`` (spec parsing, SIGTERM handling, cleanup) and the model-path preparation are
    TFX's; ``_Do``, the retry loop and one validation attempt are re-implemented so that
    failures are classified, explained and recorded.
    """

    def __init__(self, context: base_executor.BaseExecutor.Context | None = None) -> None:
        super().__init__(context)
        self._attempts: list[Attempt] = []
        self._answered: dict[str, list[str]] = {}  # signature -> output keys of its answers
        self._requests_sent = 0

    def _CreateRunner(
        self,
        model_path: str,
        serving_binary: serving_bins.ServingBinary,
        serving_spec: infra_validator_pb2.ServingSpec,
    ) -> base_runner.BaseModelServerRunner:
        """Local process when the spec names no platform, else TFX's Docker/Kubernetes."""
        if serving_spec.WhichOneof("serving_platform") is None:
            return LocalProcessRunner(model_path, serving_binary, serving_spec)
        return iv_executor._create_model_server_runner(
            model_path=model_path, serving_binary=serving_binary, serving_spec=serving_spec
        )

    def _Do(
        self,
        model: types.Artifact,
        examples: types.Artifact | None,
        blessing: types.Artifact,
        serving_spec: infra_validator_pb2.ServingSpec,
        validation_spec: infra_validator_pb2.ValidationSpec,
        request_spec: infra_validator_pb2.RequestSpec | None,
    ) -> None:
        started = time.monotonic()
        platform = serving_spec.WhichOneof("serving_platform") or LOCAL_PROCESS
        binaries = serving_bins.parse_serving_binaries(serving_spec)
        if not binaries:
            # TFX would loop over zero binaries and bless: refuse the vacuous pass.
            raise ValueError(
                "serving_spec.tensorflow_serving names no tags or digests: "
                "there is no model server to validate the model against"
            )
        if platform == LOCAL_PROCESS and len(binaries) > 1:
            logging.info(
                "Local process platform: one server stands in for %d images.", len(binaries)
            )
            binaries = binaries[:1]

        reason: str | None = None
        requests: list[iv_types.Request] = []
        if examples and request_spec:
            logging.info("InfraValidator will be run in LOAD_AND_QUERY mode.")
            try:
                requests = list(
                    request_builder.build_requests(
                        model_name=serving_spec.model_name,
                        model=model,
                        examples=examples,
                        request_spec=request_spec,
                    )
                )
            except Exception as exc:
                logging.exception("Could not build requests for the model.")
                reason = (
                    "cannot build requests from the examples for the model's "
                    f"signatures: {_describe(exc)}"
                )
        else:
            logging.info("InfraValidator will be run in LOAD_ONLY mode.")

        if reason is None:
            model_path = self._PrepareModelPath(model, serving_spec)
            for serving_binary in binaries:
                if not self._ValidateWithRetry(
                    model_path=model_path,
                    serving_binary=serving_binary,
                    serving_spec=serving_spec,
                    validation_spec=validation_spec,
                    requests=requests,
                ):
                    reason = self._attempts[-1].error or "infra validation failed"
                    break

        if reason is None:
            iv_executor._mark_blessed(blessing)
            if requests and request_spec and request_spec.make_warmup:
                self._CreateWarmupModel(blessing, model_path, warmup_requests=requests)
        else:
            logging.error("Model NOT infra-blessed: %s", reason)
            iv_executor._mark_not_blessed(blessing)
            blessing.set_string_custom_property(REASON_PROPERTY, reason)
        result = InfraValidationResult(
            blessed=reason is None,
            reason=reason,
            platform=platform,
            server=(
                f"{SERVER_MODULE} (local process)"
                if platform == LOCAL_PROCESS
                else ", ".join(b.image for b in binaries)
            ),
            mode="LOAD_AND_QUERY" if requests else "LOAD_ONLY",
            requests_sent=self._requests_sent,
            answered=self._answered,
            seconds=round(time.monotonic() - started, 3),
            attempts=[a.__dict__ for a in self._attempts],
        )
        io_utils.write_string_file(
            os.path.join(blessing.uri, RESULT_FILE), json.dumps(result.__dict__, indent=2)
        )

    def _ValidateWithRetry(
        self,
        model_path: str,
        serving_binary: serving_bins.ServingBinary,
        serving_spec: infra_validator_pb2.ServingSpec,
        validation_spec: infra_validator_pb2.ValidationSpec,
        requests: list[iv_types.Request],
    ) -> bool:
        """TFX's retry loop, except that a rejected model is not retried."""
        for number in range(1, validation_spec.num_tries + 1):
            logging.info(
                "Starting infra validation (attempt %d/%d).", number, validation_spec.num_tries
            )
            attempt = Attempt(number=number, ok=False, seconds=0.0)
            self._attempts.append(attempt)
            started = time.monotonic()
            try:
                self._ValidateOnce(
                    model_path=model_path,
                    serving_binary=serving_binary,
                    serving_spec=serving_spec,
                    validation_spec=validation_spec,
                    requests=requests,
                    attempt=attempt,
                )
            except error_types.GracefulShutdown:
                raise
            except Exception as exc:
                attempt.error = _describe(exc)
                final = isinstance(exc, ModelRejected)
                logging.warning(
                    "Infra validation attempt %d/%d failed%s: %s",
                    number,
                    validation_spec.num_tries,
                    " (the model was rejected; not retrying)" if final else "",
                    attempt.error,
                )
                if final:
                    return False
            else:
                attempt.ok = True
                return True
            finally:
                attempt.seconds = round(time.monotonic() - started, 3)
        return False

    def _ValidateOnce(
        self,
        model_path: str,
        serving_binary: serving_bins.ServingBinary,
        serving_spec: infra_validator_pb2.ServingSpec,
        validation_spec: infra_validator_pb2.ValidationSpec,
        requests: list[iv_types.Request],
        attempt: Attempt | None = None,
    ) -> None:
        """Start the server, wait for the model, send every request; always stop the server."""
        deadline = time.time() + validation_spec.max_loading_time_seconds
        started = time.monotonic()
        self._requests_sent, self._answered = 0, {}  # the verdict reports the last attempt
        runner = self._CreateRunner(model_path, serving_binary, serving_spec)
        try:
            logging.info("Starting %r.", runner)
            runner.Start()
            if attempt is not None:
                attempt.server_pid = getattr(runner, "pid", None)
            runner.WaitUntilRunning(deadline)
            endpoint = runner.GetEndpoint()
            client = serving_binary.MakeClient(endpoint)
            try:
                client.WaitUntilModelLoaded(deadline, polling_interval_sec=1)
            except error_types.ValidationFailed as exc:  # TF Serving says: state END
                raise ModelRejected(f"the model server could not load the model: {exc}") from exc
            finally:
                # TFX's client leaves its channel open until garbage collection; an open
                # connection makes the server's graceful stop wait out its grace (~6 s).
                channel = getattr(client, "_channel", None)
                if channel is not None:
                    channel.close()
            loaded = time.monotonic()
            if attempt is not None:
                attempt.load_seconds = round(loaded - started, 3)
            self._SendRequests(endpoint, requests)
            if attempt is not None:
                attempt.query_seconds = round(time.monotonic() - loaded, 3)
        except Exception:
            logs = runner.GetLogs()
            tail = _tail(logs or "")
            if attempt is not None:
                attempt.server_log_tail = tail
            logging.error(
                "Model server log (last %d lines):\n%s", len(tail), "\n".join(tail) or "(none)"
            )
            raise
        finally:
            logging.info("Stopping %r.", runner)
            runner.Stop()

    def _SendRequests(self, endpoint: str, requests: list[iv_types.Request]) -> None:
        """Every request must come back with outputs; an error answer rejects the model."""
        with grpc.insecure_channel(endpoint) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for i, request in enumerate(requests, 1):
                what = (
                    f"request {i}/{len(requests)} ({type(request).__name__} on signature "
                    f"'{_signature_of(request)}')"
                )
                try:
                    outputs = _send(stub, request)
                except grpc.RpcError as exc:
                    message = (
                        f"{what} failed: {exc.code().name}: "  # type: ignore[attr-defined]
                        f"{exc.details()}"
                    )  # type: ignore[attr-defined]
                    if exc.code() in _TRANSIENT_CODES:  # type: ignore[attr-defined]
                        raise error_types.ValidationFailed(message) from exc
                    raise ModelRejected(message) from exc
                self._requests_sent = i
                self._answered[_signature_of(request)] = outputs
        logging.info("The model server answered %d requests.", len(requests))


class LocalInfraValidator(InfraValidator):
    """The standard ``InfraValidator`` component, run by :class:`InfraValidatorExecutor`."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(InfraValidatorExecutor)


# --- the factory the pipeline calls -----------------------------------------------------------


def serving_spec(
    platform: str = LOCAL_PROCESS,
    *,
    model_name: str = configs.MODEL_NAME,
    image: str = serving_defaults.SERVING_IMAGE,
) -> infra_validator_pb2.ServingSpec:
    """The ``ServingSpec`` for ``platform``; the image (``tensorflow/serving:2.16.1``) is the
    one production runs, and what Docker/Kubernetes start. The local process ignores it."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    name, _, tag = image.rpartition(":")
    spec = infra_validator_pb2.ServingSpec(
        tensorflow_serving=infra_validator_pb2.TensorFlowServing(image_name=name, tags=[tag]),
        model_name=model_name,
    )
    if platform == "local_docker":
        spec.local_docker.SetInParent()
    elif platform == "kubernetes":
        spec.kubernetes.SetInParent()
    return spec


def request_spec(
    num_examples: int = DEFAULT_NUM_EXAMPLES, split: str = ingest_settings.TEST_SPLIT
) -> infra_validator_pb2.RequestSpec:
    """Predict requests on ``serving_default`` (serialized tf.Examples, input ``examples``),
    one per example of ``split``."""
    return infra_validator_pb2.RequestSpec(
        tensorflow_serving=infra_validator_pb2.TensorFlowServingRequestSpec(
            signature_names=[features.SIGNATURE_EXAMPLES]
        ),
        split_name=split,
        num_examples=num_examples,
    )


def infra_validator(
    model: types.BaseChannel,
    examples: types.BaseChannel,
    *,
    platform: str = LOCAL_PROCESS,
    num_examples: int = DEFAULT_NUM_EXAMPLES,
    num_tries: int = DEFAULT_NUM_TRIES,
    max_loading_time_seconds: int = DEFAULT_MAX_LOADING_SECONDS,
    make_warmup: bool = False,
) -> LocalInfraValidator:
    """The InfraValidator node (id ``InfraValidator``); Pusher takes ``outputs['blessing']``
    as ``infra_blessing``.

    ``platform``: ``local_process`` (default, the project's server as a child process),
    ``local_docker`` or ``kubernetes`` (TFX's runners with ``serving.defaults.SERVING_IMAGE``)."""
    spec = request_spec(num_examples)
    spec.make_warmup = make_warmup
    return LocalInfraValidator(
        model=model,
        examples=examples,
        serving_spec=serving_spec(platform),
        request_spec=spec,
        validation_spec=infra_validator_pb2.ValidationSpec(
            max_loading_time_seconds=max_loading_time_seconds, num_tries=num_tries
        ),
    ).with_id(COMPONENT_ID)


# --- reading the result back (for the run summary) -------------------------------------------


@dataclass
class InfraValidationResult:
    """What ``infra_validation.json`` in the InfraBlessing artifact says."""

    blessed: bool
    reason: str | None = None
    platform: str | None = None
    server: str | None = None
    mode: str | None = None
    requests_sent: int = 0
    answered: dict[str, list[str]] = field(default_factory=dict)
    seconds: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """One line for a run summary."""
        if self.blessed:
            what = (
                f"{self.requests_sent} requests answered"
                if self.mode == "LOAD_AND_QUERY"
                else "loaded, no requests"
            )
            return f"infra-blessed: True ({self.platform}, {what})"
        return f"infra-blessed: False: {self.reason}"


def read_infra_validation(blessing_uri: str) -> InfraValidationResult | None:
    """The InfraValidator's verdict from its InfraBlessing artifact directory.

    Reads ``infra_validation.json`` (this executor); for a blessing written by TFX's stock
    executor (no reason recorded) falls back to its marker files. ``None`` if the directory
    holds neither (the component did not run)."""
    path = os.path.join(blessing_uri, RESULT_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        known = InfraValidationResult.__dataclass_fields__
        return InfraValidationResult(**{k: v for k, v in data.items() if k in known})
    if os.path.isfile(os.path.join(blessing_uri, BLESSED_MARKER)):
        return InfraValidationResult(blessed=True)
    if os.path.isfile(os.path.join(blessing_uri, NOT_BLESSED_MARKER)):
        return InfraValidationResult(
            blessed=False, reason="not infra-blessed (no reason recorded by this executor)"
        )
    return None


# --- run the executor on one model by hand (measuring, debugging) ----------------------------


def validate(
    model_uri: str,
    examples_uri: str,
    output_uri: str,
    *,
    platform: str = LOCAL_PROCESS,
    num_examples: int = DEFAULT_NUM_EXAMPLES,
    num_tries: int = DEFAULT_NUM_TRIES,
    split_names: Sequence[str] | None = None,
) -> types.Artifact:
    """Run the executor outside a pipeline on a Trainer ``model`` artifact directory (with
    ``Format-Serving/``) and an ExampleGen ``examples`` directory (``Split-*/``); returns the
    InfraBlessing artifact as the Pusher would receive it (read it with
    :func:`read_infra_validation`)."""
    model = standard_artifacts.Model()
    model.uri = model_uri
    examples = standard_artifacts.Examples()
    examples.uri = examples_uri
    examples.split_names = artifact_utils.encode_split_names(
        list(
            split_names
            or sorted(p.name.removeprefix("Split-") for p in Path(examples_uri).glob("Split-*"))
        )
    )
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = output_uri
    os.makedirs(output_uri, exist_ok=True)
    spec = request_spec(num_examples)
    exec_properties = {
        "serving_spec": json.dumps(_to_json(serving_spec(platform))),
        "request_spec": json.dumps(_to_json(spec)),
        "validation_spec": json.dumps(
            _to_json(
                infra_validator_pb2.ValidationSpec(
                    max_loading_time_seconds=DEFAULT_MAX_LOADING_SECONDS, num_tries=num_tries
                )
            )
        ),
    }
    with tempfile.TemporaryDirectory(prefix="infra-validation-") as tmp:
        executor = InfraValidatorExecutor(
            base_executor.BaseExecutor.Context(tmp_dir=tmp, unique_id="manual")
        )
        executor.Do(
            {"model": [model], "examples": [examples]}, {"blessing": [blessing]}, exec_properties
        )
    return blessing


def _to_json(message: Any) -> Any:
    from google.protobuf import json_format

    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.components.infra_validation --model M --examples E``: validate one
    model as the pipeline would, print the verdict and the seconds it took."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", required=True, help="Trainer model artifact directory")
    parser.add_argument("--examples", required=True, help="ExampleGen examples directory")
    parser.add_argument("--output", help="InfraBlessing directory (default: a temp dir)")
    parser.add_argument("--platform", default=LOCAL_PROCESS, choices=PLATFORMS)
    parser.add_argument("--num-examples", type=int, default=DEFAULT_NUM_EXAMPLES)
    args = parser.parse_args(argv)
    std_logging.basicConfig(level=std_logging.WARNING)
    output = args.output or tempfile.mkdtemp(prefix="infra-blessing-")
    started = time.monotonic()
    blessing = validate(
        args.model, args.examples, output, platform=args.platform, num_examples=args.num_examples
    )
    result = read_infra_validation(blessing.uri)
    assert result is not None, "the executor always writes its result file"
    print(json.dumps(result.__dict__, indent=2))
    print(
        f"{result.describe()}; executor {result.seconds:.1f}s, "
        f"wall {time.monotonic() - started:.1f}s (after imports); blessing at {output}"
    )
    return 0 if result.blessed else 3


if __name__ == "__main__":
    sys.exit(main())
