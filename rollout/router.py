"""The canary router: a REST and gRPC front for the model server that splits traffic
between the ``stable`` and ``canary`` version labels and measures each version.

* ``POST /v1/models/<model>:predict`` (and ``:classify``/``:regress``) and gRPC ``Predict``
  without a version or label get one: ``canary`` for the rollout weight's share, else
  ``stable``; sticky per client key (configs.CLIENT_KEY_HEADER header / gRPC metadata).
* Requests naming a version or label, other models and every other call pass through.
* ``GET configs.PROMETHEUS_PATH`` on the REST port: per-version request, error, latency,
  predicted-class and feedback metrics, the weight, and the drift distance.
* ``POST /rollout/feedback``: labelled outcomes (``[{"label", "version", "correct"}]``) for
  the optional accuracy check.
* A share of request images is sampled into a :class:`~rollout.drift.DriftMonitor`.

Runs its own asyncio loop in a thread (``start``/``stop``), like the in-process model
server; port 0 binds a free port (see ``rest_port``/``grpc_port`` after ``start``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
import time
from pathlib import Path

import aiohttp
import grpc
from aiohttp import web

from pipeline import configs
from rollout import payloads
from rollout.drift import DriftMonitor
from rollout.drift_payloads import probabilities_from_grpc, probabilities_from_rest
from rollout.policy import Policy, load_policy
from rollout.router_metrics import RouterMetrics
from rollout.routing import Split, StateWatcher, choose_label

log = logging.getLogger(__name__)

FEEDBACK_PATH = "/rollout/feedback"
SERVED_LABEL_HEADER = "x-served-label"
SERVED_VERSION_HEADER = "x-served-version"
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
_ROUTED_VERBS = (":predict", ":classify", ":regress")
_MODEL_PATH = re.compile(
    r"^/v1/models/(?P<model>[^/:]+)"
    r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?(?P<verb>:[a-z]+)?$")
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class Router:
    def __init__(self, upstream_rest: str, upstream_grpc: str, state_path: Path | str,
                 policy: Policy | None = None, host: str = configs.SERVING_HOST,
                 rest_port: int = configs.ROUTER_REST_PORT,
                 grpc_port: int = configs.ROUTER_GRPC_PORT,
                 drift_monitor: DriftMonitor | None = None,
                 model_name: str = configs.MODEL_NAME, seed: int | None = None) -> None:
        self.upstream_rest = upstream_rest.rstrip("/")
        self.upstream_grpc = upstream_grpc
        self.policy = policy or load_policy()
        self.host = host
        self.rest_port = rest_port
        self.grpc_port = grpc_port
        self.model_name = model_name
        self.watcher = StateWatcher(Path(state_path), self.policy.router.state_poll_seconds)
        self.metrics = RouterMetrics()
        self.drift_monitor = drift_monitor
        self._random = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # --- lifecycle ----------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> Router:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._serve(ready))
            except BaseException as e:  # noqa: BLE001 - surfaced to start()'s caller
                failure.append(e)
                ready.set()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="canary-router", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("router did not start")
        if failure:
            raise RuntimeError(f"router failed to start: {failure[0]}") from failure[0]
        log.info("router on REST %s:%d, gRPC %s:%d -> %s / %s", self.host, self.rest_port,
                 self.host, self.grpc_port, self.upstream_rest, self.upstream_grpc)
        return self

    def stop(self) -> None:
        if self._loop and self._stopped and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout=15)

    def __enter__(self) -> Router:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    async def _serve(self, ready: threading.Event) -> None:
        self._stopped = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=self.policy.router.upstream_timeout_seconds)
        self._session = aiohttp.ClientSession(timeout=timeout)
        app = web.Application(client_max_size=configs.MAX_REQUEST_BYTES)
        app.router.add_get(configs.PROMETHEUS_PATH, self._metrics)
        app.router.add_post(FEEDBACK_PATH, self._feedback)
        app.router.add_route("*", "/{tail:.*}", self._proxy_rest)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.rest_port)
        await site.start()
        self.rest_port = site._server.sockets[0].getsockname()[1]
        self._channel = grpc.aio.insecure_channel(
            self.upstream_grpc, options=[("grpc.max_receive_message_length",
                                          configs.MAX_REQUEST_BYTES)])
        server = grpc.aio.server(options=[("grpc.max_receive_message_length",
                                           configs.MAX_REQUEST_BYTES)])
        server.add_generic_rpc_handlers((_GrpcProxy(self),))
        self.grpc_port = server.add_insecure_port(f"{self.host}:{self.grpc_port}")
        await server.start()
        ready.set()
        try:
            await self._stopped.wait()
        finally:
            await server.stop(grace=1)
            await runner.cleanup()
            await self._session.close()
            await self._channel.close()

    # --- routing helpers ----------------------------------------------------------------
    def split(self) -> Split:
        split = self.watcher.current()
        self.metrics.weight.labels(self.model_name).set(split.weight)
        return split

    def _choose(self, split: Split, client_key: str | None) -> str:
        if split.canary is None:
            return configs.STABLE_LABEL
        return choose_label(split.weight, client_key, self._random.random)

    def _sample_drift(self, extract, probabilities=None, version: int | None = None) -> None:
        """Feed a sampled request's images (and the probabilities the model served for them,
        with the serving version) to the drift monitor (never fails the request)."""
        monitor = self.drift_monitor
        if monitor is None or self._random.random() >= monitor.policy.sample_rate:
            return
        try:
            images = extract()
            if images is not None and len(images):
                served = probabilities() if probabilities is not None else None
                if served is not None and len(served) != len(images):
                    served = None
                monitor.add(images, served, version)
                self.metrics.drift_sampled.labels(self.model_name).inc(len(images))
                if monitor.last is not None:
                    self.metrics.drift.labels(self.model_name).set(monitor.last.distance)
                    self.metrics.drift_alert.labels(self.model_name).set(
                        int(monitor.last.drifted))
        except Exception as e:  # noqa: BLE001 - drift sampling is best-effort
            log.debug("drift sample skipped: %s", e)

    # --- REST ---------------------------------------------------------------------------
    async def _metrics(self, request: web.Request) -> web.Response:
        self.split()
        return web.Response(body=self.metrics.render(),
                            headers={"Content-Type": "text/plain; version=0.0.4"})

    async def _feedback(self, request: web.Request) -> web.Response:
        try:
            items = await request.json()
            items = items if isinstance(items, list) else [items]
            for item in items:
                outcome = "correct" if item["correct"] else "wrong"
                self.metrics.feedback.labels(self.model_name, str(item["version"]),
                                             str(item["label"]), outcome).inc()
        except (ValueError, KeyError, TypeError) as e:
            return web.json_response({"error": f"bad feedback: {e}"}, status=400)
        return web.json_response({"accepted": len(items)})

    async def _proxy_rest(self, request: web.Request) -> web.StreamResponse:
        match = _MODEL_PATH.match(request.path)
        body = await request.read()
        if not match or match["model"] != self.model_name or match["verb"] not in _ROUTED_VERBS:
            return await self._forward(request, request.path_qs, body)
        split = self.split()
        if match["version"] is not None:
            version = int(match["version"])
            label, path = split.label_of(version), request.path_qs
        elif match["label"] is not None:
            label, path = match["label"], request.path_qs
            version = split.version_of(label)
        else:
            label = self._choose(split, request.headers.get(configs.CLIENT_KEY_HEADER))
            version = split.version_of(label)
            path = f"/v1/models/{self.model_name}/labels/{label}{match['verb']}"
        started = time.perf_counter()
        response = await self._forward(request, path, body)
        classes: list[int] = []
        ok = 200 <= response.status < 300
        if ok and match["verb"] == ":predict":
            try:
                classes = payloads.classes_from_rest(json.loads(response.body))
            except (ValueError, TypeError, KeyError):
                classes = []
        if match["verb"] == ":predict":
            self._sample_drift(
                lambda: payloads.images_from_rest(json.loads(body)),
                (lambda: probabilities_from_rest(json.loads(response.body))) if ok else None,
                version)
        self.metrics.observe(self.model_name, version, label, time.perf_counter() - started,
                             ok, str(response.status), classes)
        response.headers[SERVED_LABEL_HEADER] = label
        if version is not None:
            response.headers[SERVED_VERSION_HEADER] = str(version)
        return response

    async def _forward(self, request: web.Request, path: str, body: bytes) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            async with self._session.request(request.method, self.upstream_rest + path,
                                             data=body, headers=headers) as upstream:
                payload = await upstream.read()
                content_type = upstream.headers.get("Content-Type", "application/json")
                return web.Response(body=payload, status=upstream.status,
                                    headers={"Content-Type": content_type})
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            return web.json_response({"error": f"model server unreachable: {e}"}, status=502)


class _GrpcProxy(grpc.GenericRpcHandler):
    """Predict gets a label; every other method is forwarded as raw bytes."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def service(self, details: grpc.HandlerCallDetails):
        if details.method == PREDICT_METHOD:
            from tensorflow_serving.apis import predict_pb2

            return grpc.unary_unary_rpc_method_handler(
                self._predict, request_deserializer=predict_pb2.PredictRequest.FromString,
                response_serializer=predict_pb2.PredictResponse.SerializeToString)
        return grpc.unary_unary_rpc_method_handler(self._passthrough(details.method))

    def _passthrough(self, method: str):
        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            stub = self.router._channel.unary_unary(method)
            try:
                return await stub(request, metadata=_forwardable(context),
                                  timeout=self.router.policy.router.upstream_timeout_seconds)
            except grpc.aio.AioRpcError as e:
                await context.abort(e.code(), e.details() or "")

        return call

    async def _predict(self, request, context: grpc.aio.ServicerContext):
        from tensorflow_serving.apis import predict_pb2

        router = self.router
        spec = request.model_spec
        split = router.split()
        ours = spec.name == router.model_name
        if not ours:
            label, version = "other", None
        elif spec.HasField("version"):
            version = spec.version.value
            label = split.label_of(version)
        elif spec.version_label:
            label, version = spec.version_label, split.version_of(spec.version_label)
        else:
            key = dict(context.invocation_metadata() or ()).get(configs.CLIENT_KEY_HEADER)
            label = router._choose(split, key)
            version = split.version_of(label)
            spec.version_label = label
        started = time.perf_counter()
        stub = router._channel.unary_unary(
            PREDICT_METHOD, request_serializer=predict_pb2.PredictRequest.SerializeToString,
            response_deserializer=predict_pb2.PredictResponse.FromString)
        try:
            response = await stub(request, metadata=_forwardable(context),
                                  timeout=router.policy.router.upstream_timeout_seconds)
        except grpc.aio.AioRpcError as e:
            if ours:
                router.metrics.observe(router.model_name, version, label,
                                       time.perf_counter() - started, False, e.code().name, [])
            await context.abort(e.code(), e.details() or "")
        if ours:
            if response.model_spec.HasField("version"):
                version = response.model_spec.version.value
            router.metrics.observe(router.model_name, version, label,
                                   time.perf_counter() - started, True, "OK",
                                   payloads.classes_from_grpc(response))
            router._sample_drift(lambda: payloads.images_from_grpc(request),
                                 lambda: probabilities_from_grpc(response), version)
            await context.send_initial_metadata(((SERVED_LABEL_HEADER, label),))
        return response


def _forwardable(context: grpc.aio.ServicerContext) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in (context.invocation_metadata() or ())
                 if not k.startswith(":") and k not in ("user-agent", "content-type", "te"))
