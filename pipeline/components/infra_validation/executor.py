"""TFX's InfraValidator executor with the local-process platform, classified retries and an
explained verdict (``infra_validation.json``, read by :mod:`.result`)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import grpc
from absl import logging
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tfx import types
from tfx.components.infra_validator import error_types, request_builder, serving_bins
from tfx.components.infra_validator import executor as iv_executor
from tfx.components.infra_validator import types as iv_types
from tfx.components.infra_validator.model_server_runners import base_runner
from tfx.dsl.components.base import base_executor
from tfx.proto import infra_validator_pb2
from tfx.utils import io_utils

from pipeline.components.infra_validation import process_runner
from pipeline.components.infra_validation.process_runner import (
    LocalProcessRunner,
    ModelRejected,
)
from pipeline.components.infra_validation.result import (
    REASON_PROPERTY,
    RESULT_FILE,
    InfraValidationResult,
)
from pipeline.components.infra_validation.specs import LOCAL_PROCESS

REQUEST_TIMEOUT_SECONDS = 30.0  # per request; the first one also builds the graph

# gRPC codes that say "the infrastructure did not answer", not "the model answered no".
_TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    }
)


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
                f"{process_runner.SERVER_MODULE} (local process)"
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
            tail = process_runner.log_tail(logs or "")
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
