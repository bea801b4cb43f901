"""The model server object: manager + gRPC + REST, startable in-process.

Tests, the benchmark and the rollout demo use it directly::

    with ModelServer(model_base_path=..., grpc_port=0, rest_port=0) as server:
        requests.get(f"{server.rest_url}/v1/models/cifar10")

``start()`` loads the initial versions before it returns (as tensorflow_model_server does
before it opens its ports), then keeps polling the base paths and the config file.
"""

from __future__ import annotations

import logging
from concurrent import futures
from pathlib import Path
from typing import TextIO

import grpc

from pipeline import configs
from serving import grpc_api, model_config
from serving.batching import BatchingOptions
from serving.metrics import RequestLog, ServerMetrics
from serving.model_config import ConfigError, ModelEntry
from serving.model_manager import ModelManager, describe
from serving.request_handler import RequestHandler
from serving.rest_api import RestServer

log = logging.getLogger("serving.server")


class StartupError(RuntimeError):
    """The server cannot start (bad config, missing base path, port taken)."""


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ModelServer:
    def __init__(self, *, model_name: str = configs.MODEL_NAME,
                 model_base_path: Path | str | None = None,
                 model_config_file: Path | str | None = None,
                 host: str = configs.SERVING_HOST,
                 grpc_port: int = configs.GRPC_PORT,
                 rest_port: int = configs.REST_PORT,
                 model_config_poll_seconds: float = configs.MODEL_CONFIG_POLL_SECONDS,
                 file_system_poll_seconds: float = configs.FILE_SYSTEM_POLL_SECONDS,
                 allow_version_labels_for_unavailable_models: bool = False,
                 enable_batching: bool = False,
                 batching: BatchingOptions | None = None,
                 max_request_bytes: int = configs.MAX_REQUEST_BYTES,
                 metrics_path: str = configs.PROMETHEUS_PATH,
                 request_log: bool | TextIO = False,
                 max_workers: int = 16) -> None:
        if model_base_path is None and model_config_file is None:
            model_base_path = configs.serving_root(configs.DEFAULT_OUTPUT_ROOT) / model_name
        self.model_name = model_name
        self.model_base_path = Path(model_base_path) if model_base_path else None
        self.model_config_file = Path(model_config_file) if model_config_file else None
        self.host = host
        self.grpc_port, self.rest_port = grpc_port, rest_port
        self.model_config_poll_seconds = model_config_poll_seconds
        self.file_system_poll_seconds = file_system_poll_seconds
        self.max_request_bytes = max_request_bytes
        self.metrics_path = metrics_path
        self.max_workers = max_workers
        self.metrics = ServerMetrics()
        self.request_log = RequestLog.from_flag(request_log)
        batching_opts = (batching or BatchingOptions()) if enable_batching else None
        self.manager = ModelManager(
            {}, allow_unavailable_labels=allow_version_labels_for_unavailable_models,
            batching=batching_opts, on_batch=self.metrics.observe_batch)
        self.handler = RequestHandler(self.manager, self.metrics, self.request_log)
        self._pool: futures.ThreadPoolExecutor | None = None
        self._grpc: grpc.Server | None = None
        self._rest: RestServer | None = None
        self._started = False

    # -- addresses ----------------------------------------------------------------------------
    @property
    def grpc_target(self) -> str:
        return _grpc_address(self._client_host, self.grpc_port)

    @property
    def rest_url(self) -> str:
        host = self._client_host
        return f"http://[{host}]:{self.rest_port}" if ":" in host else \
            f"http://{host}:{self.rest_port}"

    @property
    def _client_host(self) -> str:
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)

    # -- lifecycle ----------------------------------------------------------------------------
    def _initial_config(self) -> tuple[dict[str, ModelEntry], bytes | None]:
        if self.model_config_file is not None:
            try:
                raw = self.model_config_file.read_bytes()
                entries = model_config.parse(raw.decode(),
                                             relative_to=self.model_config_file.resolve().parent)
            except (OSError, UnicodeDecodeError, ConfigError) as exc:
                raise StartupError(f"model config {self.model_config_file}: {exc}") from exc
            if not entries:
                raise StartupError(f"model config {self.model_config_file} lists no models")
            return entries, raw
        assert self.model_base_path is not None
        try:
            return model_config.single_model(self.model_name, self.model_base_path), None
        except ValueError as exc:
            raise StartupError(str(exc)) from exc

    def start(self) -> ModelServer:
        entries, raw = self._initial_config()
        for entry in entries.values():
            if not entry.base_path.is_dir():
                raise StartupError(f"model base path {entry.base_path} (model {entry.name!r}) "
                                   "does not exist or is not a directory")
        try:
            self.manager.apply_config(entries)
        except ConfigError as exc:
            self.manager.shutdown()
            raise StartupError(str(exc)) from exc
        log.info("serving %s", describe(entries))
        self._pool = futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="rest")
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="grpc"),
            options=[("grpc.so_reuseport", 0),  # else a taken port is silently shared
                     ("grpc.max_receive_message_length", self.max_request_bytes),
                     ("grpc.max_send_message_length", -1)])
        grpc_api.add_to_server(self._grpc, self.handler)
        address = _grpc_address(self.host, self.grpc_port)
        try:
            bound = self._grpc.add_insecure_port(address)
        except RuntimeError as exc:
            bound, reason = 0, exc
        else:
            reason = "address in use or not available"
        if not bound:
            self._cleanup()
            raise StartupError(f"cannot bind gRPC port {address}: {reason}")
        self.grpc_port = bound
        self._grpc.start()
        self._rest = RestServer(self.handler, self.host, self.rest_port, self._pool,
                                max_request_bytes=self.max_request_bytes,
                                metrics_path=self.metrics_path, healthy=self.health)
        try:
            self.rest_port = self._rest.start()
        except OSError as exc:
            self._rest = None
            self._cleanup()
            raise StartupError(f"cannot bind REST port {self.host}:{self.rest_port}: "
                               f"{exc.strerror or exc}") from exc
        self.manager.start_polling(self.file_system_poll_seconds, self.model_config_file,
                                   self.model_config_poll_seconds, raw)
        self._started = True
        return self

    def health(self) -> tuple[bool, dict]:
        available = self.manager.available_versions()
        return any(available.values()), {"models": available}

    def _cleanup(self) -> None:
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
