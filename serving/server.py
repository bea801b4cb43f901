"""The model server object: manager + gRPC + REST, startable in-process.

Tests, the benchmark and the rollout demo use it directly::

    with ModelServer(model_base_path=..., grpc_port=0, rest_port=0) as server:
        requests.get(f"{server.rest_url}/v1/models/default")

``start()`` does what ``tensorflow_model_server`` does before it opens its ports: load the
initial versions and wait until every configured model has one AVAILABLE (a base path that
does not exist yet is polled for); if a model's version fails to load it raises
:class:`StartupError` with TF Serving's message. Then it binds gRPC (TCP and/or a Unix
socket) and REST, and keeps polling the base paths and the config file.

In-process port convention: ``0`` picks a free port, ``None`` disables the listener (the
CLI maps TF Serving's ``--port=0`` / ``--rest_api_port=0`` to ``None``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path
from typing import TextIO

import grpc

from serving import defaults, grpc_api, health, model_config, tls
from serving.batching import BatchingOptions
from serving.data_plane import DataPlane
from serving.errors import InvalidArgument
from serving.health import HealthReporter
from serving.metrics import RequestLog, ServerMetrics
from serving.model_config import ConfigError, ModelEntry, describe
from serving.model_manager import ModelManager
from serving.oip import grpc_service as oip_grpc
from serving.rest_api import RestServer
from serving.servable import LoadOptions
from serving.tls import SslSettings

log = logging.getLogger("serving.server")


class StartupError(RuntimeError):
    """The server cannot start (bad config, a model that failed to load, port taken).

    ``report`` is what TF Serving writes to stderr before its start-up error (protobuf's
    parser report for a config file that does not parse), or None."""

    def __init__(self, message: str, report: str | None = None) -> None:
        super().__init__(message)
        self.report = report


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ModelServer:
    def __init__(
        self,
        *,
        model_name: str = "default",
        model_base_path: Path | str | None = None,
        model_config_file: Path | str | None = None,
        host: str = defaults.LOOPBACK,
        grpc_port: int | None = defaults.GRPC_PORT,
        rest_port: int | None = defaults.REST_PORT,
        grpc_socket_path: str | None = None,
        grpc_channel_arguments: Sequence[tuple[str, int | str]] = (),
        model_config_poll_seconds: float = defaults.MODEL_CONFIG_POLL_SECONDS,
        file_system_poll_seconds: float = defaults.FILE_SYSTEM_POLL_SECONDS,
        allow_version_labels_for_unavailable_models: bool = False,
        enable_batching: bool = False,
        batching: BatchingOptions | None = None,
        load_options: LoadOptions | None = None,
        max_load_retries: int = 0,
        load_retry_interval_seconds: float = 60.0,
        rest_timeout_ms: int = 0,
        enable_cors: bool = False,
        max_request_bytes: int = defaults.MAX_REQUEST_BYTES,
        metrics_path: str | None = defaults.PROMETHEUS_PATH,
        request_log: bool | TextIO = False,
        max_workers: int = 16,
        startup_timeout: float | None = None,
        ssl: SslSettings | None = None,
        grpc_health: bool = False,
    ) -> None:
        if model_base_path is None and model_config_file is None:
            raise ValueError("Both model_base_path and model_config_file are empty!")
        self.model_name = model_name
        self.model_base_path = Path(model_base_path) if model_base_path else None
        self.model_config_file = Path(model_config_file) if model_config_file else None
        self.host = host
        self.grpc_port, self.rest_port = grpc_port, rest_port
        self.grpc_socket_path = grpc_socket_path
        self.grpc_channel_arguments = list(grpc_channel_arguments)
        self.model_config_poll_seconds = model_config_poll_seconds
        self.file_system_poll_seconds = file_system_poll_seconds
        self.max_request_bytes = max_request_bytes
        self.metrics_path = metrics_path
        self.max_workers = max_workers
        self.startup_timeout = startup_timeout
        self.enable_cors = enable_cors
        self.ssl = ssl  # TLS (and with client_verify, mutual TLS) on every gRPC listener
        self.grpc_health = grpc_health
        self._health: HealthReporter | None = None
        self.metrics = ServerMetrics()
        self.request_log = RequestLog.from_flag(request_log)
        options = load_options or LoadOptions()
        if enable_batching:
            options = dataclasses.replace(options, batching=batching or BatchingOptions())
        self.manager = ModelManager(
            {},
            allow_unavailable_labels=allow_version_labels_for_unavailable_models,
            load_options=options,
            on_batch=self.metrics.observe_batch,
            max_load_retries=max_load_retries,
            load_retry_interval_s=load_retry_interval_seconds,
        )
        self.plane = DataPlane(
            self.manager,
            self.metrics,
            self.request_log,
            method_check=options.method_check,
            rest_timeout_ms=rest_timeout_ms,
        )
        self._pool: futures.ThreadPoolExecutor | None = None
        self._grpc: grpc.Server | None = None
        self._rest: RestServer | None = None
        self._started = False

    # -- addresses ----------------------------------------------------------------------------
    @property
    def grpc_target(self) -> str:
        if self.grpc_port is None:
            return f"unix:{self.grpc_socket_path}"
        return _grpc_address(self._client_host, self.grpc_port)

    @property
    def rest_url(self) -> str:
        host = self._client_host
        return (
            f"http://[{host}]:{self.rest_port}"
            if ":" in host
            else f"http://{host}:{self.rest_port}"
        )

    @property
    def _client_host(self) -> str:
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)

    # -- lifecycle ----------------------------------------------------------------------------
    def _initial_config(self) -> tuple[dict[str, ModelEntry], bytes | None]:
        if self.model_config_file is not None:
            try:
                raw = self.model_config_file.read_bytes()
                entries = model_config.parse(raw.decode())
            except OSError as exc:
                raise StartupError(
                    f"NOT_FOUND: {self.model_config_file}; {exc.strerror or exc}"
                ) from exc
            except UnicodeDecodeError as exc:
                raise StartupError(
                    f"INVALID_ARGUMENT: Invalid protobuf file: '{self.model_config_file}'"
                ) from exc
            except ConfigError as exc:
                what = (
                    "Invalid protobuf file: '" + str(self.model_config_file) + "'"
                    if "cannot parse" in str(exc)
                    else str(exc)
                )
                raise StartupError(f"INVALID_ARGUMENT: {what}", exc.report) from exc
            return entries, raw
        assert self.model_base_path is not None
        try:
            return model_config.single_model(self.model_name, self.model_base_path), None
        except ValueError as exc:
            raise StartupError(f"INVALID_ARGUMENT: {exc}") from exc

    def start(self) -> ModelServer:
        entries, raw = self._initial_config()
        try:
            self.manager.apply_config(entries)
        except ConfigError as exc:
            self.manager.shutdown()
            raise StartupError(f"INVALID_ARGUMENT: {exc}") from exc
        log.info("serving %s", describe(entries))
        self.manager.start_polling(
            self.file_system_poll_seconds,
            self.model_config_file,
            self.model_config_poll_seconds,
            raw,
        )
        try:
            self._wait_for_models()
            self._bind()
        except BaseException:
            self._cleanup()
            raise
        self._started = True
        return self

    def _wait_for_models(self) -> None:
        """Block until every model has an AVAILABLE version (TF Serving's start-up wait)."""
        deadline = None if self.startup_timeout is None else time.monotonic() + self.startup_timeout
        announced = False
        while True:
            problem = self.manager.startup_problem()
            if problem:
                raise StartupError(f"UNKNOWN: {problem}")
            waiting = self.manager.unavailable_models()
            if not waiting:
                return
            if not announced:
                log.warning(
                    "waiting for models %s: no loadable version under their base paths yet", waiting
                )
                announced = True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise StartupError(
                    f"UNKNOWN: {len(waiting)} model(s) did not become "
                    f"available within {self.startup_timeout} s: {waiting}"
                )
            polls = self.manager.polls
            if self.file_system_poll_seconds <= 0:
                if left is None:
                    threading.Event().wait()  # TF Serving: waits forever for a version
                time.sleep(max(0.0, left or 0.0))
                continue
            self.manager.wait_for_poll(polls, 1.0 if left is None else min(left, 1.0))

    def _bind(self) -> None:
        self._pool = futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="rest")
        if self.grpc_port is not None or self.grpc_socket_path:
            self._start_grpc()
        if self.rest_port is not None:
            if self.rest_port and self.rest_port == self.grpc_port:
                log.error(
                    "--rest_api_port cannot be same as --port. Please use a different "
                    "port for HTTP/REST API. Skipped exporting HTTP/REST API."
                )
                self.rest_port = None
                return
            self._rest = RestServer(
                self.plane,
                self.host,
                self.rest_port,
                self._pool,
                max_request_bytes=self.max_request_bytes,
                metrics_path=self.metrics_path,
                healthy=self.health,
                cors=self.enable_cors,
            )
            try:
                self.rest_port = self._rest.start()
            except OSError as exc:
                self._rest = None
                raise StartupError(
                    f"cannot bind REST port {self.host}:{self.rest_port}: {exc.strerror or exc}"
                ) from exc

    def _start_grpc(self) -> None:
        options: list[tuple[str, int | str]] = [
            ("grpc.so_reuseport", 0),  # else a taken port is silently shared
            ("grpc.max_receive_message_length", self.max_request_bytes),
            ("grpc.max_send_message_length", -1),
        ]
        options += self.grpc_channel_arguments
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="grpc"), options=options
        )
        grpc_api.add_to_server(self._grpc, self.plane, self.reload_config)
        oip_grpc.add_to_server(self._grpc, self.plane)  # the Open Inference Protocol
        addresses = []
        if self.grpc_port is not None:
            addresses.append(_grpc_address(self.host, self.grpc_port))
        if self.grpc_socket_path:
            addresses.append(f"unix:{self.grpc_socket_path}")
        if self.grpc_health:
            manager = self.manager
            self._health = HealthReporter(
                self.plane.any_ready,
                lambda s: manager.wait_for_poll(manager.polls, s),
                (*health.SERVICES, oip_grpc.SERVICE_NAME),
            )
            self._health.add_to_server(self._grpc)
        credentials = tls.server_credentials(self.ssl) if self.ssl is not None else None
        for address in addresses:
            try:
                if credentials is not None:  # TF Serving: the same credentials on both
                    bound = self._grpc.add_secure_port(address, credentials)
                else:
                    bound = self._grpc.add_insecure_port(address)
            except RuntimeError as exc:
                bound, reason = 0, str(exc)
            else:
                reason = "address in use or not available"
            if not bound:
                raise StartupError(f"cannot bind gRPC at {address}: {reason}")
            if not address.startswith("unix:"):
                self.grpc_port = bound
        self._grpc.start()

    def reload_config(self, config) -> None:
        """ModelService.HandleReloadConfigRequest: serve ``config`` from now on."""
        try:
            self.manager.apply_config(model_config.from_proto(config))
        except ConfigError as exc:
            raise InvalidArgument(str(exc)) from exc

    def health(self) -> tuple[bool, dict]:
        available = self.manager.available_versions()
        return any(available.values()), {"models": available}

    def _stop_health(self) -> None:
        if self._health is not None:
            self._health.stop()
            self._health = None

    def _cleanup(self) -> None:
        self._stop_health()
        self.manager.shutdown()
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace=None)
            self._grpc = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def stop(self, grace: float = 5.0) -> None:
        """Stop taking requests, let in-flight ones finish (up to ``grace`` s), unload."""
        self._stop_health()
        self.manager.stop()
        if self._rest is not None:
            self._rest.stop()
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace).wait(grace + 1)
            self._grpc = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.manager.shutdown()
        self._started = False

    def __enter__(self) -> ModelServer:
        return self if self._started else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
