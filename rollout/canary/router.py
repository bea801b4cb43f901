"""The canary router: a REST and gRPC front for the model server that splits traffic
between the ``stable`` and ``canary`` version labels and measures each version.

* ``POST /v1/models/<model>:predict`` (and ``:classify``/``:regress``) and gRPC ``Predict``
  without a version or label get one: ``canary`` for the rollout weight's share, else
  ``stable``; sticky per client key (rollout_settings.CLIENT_KEY_HEADER header / gRPC metadata).
* The Open Inference Protocol likewise: ``POST /v2/models/<model>/infer`` and gRPC
  ``ModelInfer`` without a version get the label as their version (the model server takes
  a label there); health, metadata and readiness pass through (gRPC: rollout/canary/router_grpc.py).
* Requests naming a version or label, other models and every other call pass through.
* A request the router chose for the canary that the canary cannot serve at all (its
  version not loaded: 404/503, its label already dropped by the server: 400 "Unrecognized
  servable version label", or the model server unreachable: 502) is counted as a canary
  failure, so the analysis still sees it and rolls back, and is sent again to ``stable``:
  the client gets stable's answer instead of an error (gRPC: ``NOT_FOUND``/``UNAVAILABLE``).
  A timeout (504) or an error the model itself gave (e.g. 400) is not retried.
* Upstream TLS (``upstream_tls``, rollout/client_tls.py): gRPC over TLS or mutual TLS, and
  REST to an ``https://`` URL with the same CA and client certificate.
* ``GET serving_defaults.PROMETHEUS_PATH`` on the REST port: per-version request, error, latency,
  predicted-class and feedback metrics (requests per protocol too: ``rest``, ``grpc``,
  ``rest-oip``, ``grpc-oip``), the weight, and the drift distance.
* ``POST /rollout/feedback``: labelled outcomes (``[{"label", "version", "correct"}]``) for
  the optional accuracy check.
* A share of request images is sampled into a :class:`~rollout.drift.monitor.DriftMonitor`; the
  decoding, histogramming and alert writes run on a worker thread
  (:class:`~rollout.drift.sampler.DriftSampler`), never on the event loop, so a slow disk or
  a big sample does not hold up the requests in flight.

URLs are matched and requests decoded by the model server's own code
(:mod:`serving.model_paths`, :mod:`serving.rest_json`, :mod:`serving.tensor_proto`), so
the router routes and reads exactly what the server accepts. It runs its own asyncio loop
on a thread (:class:`serving.aio_thread.LoopThread`, ``start``/``stop``), like the
in-process model server; port 0 binds a free port (see ``rest_port``/``grpc_port``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
import grpc
from aiohttp import web

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import oip_payloads, payloads
from rollout.canary.router_grpc import UNKNOWN_LABEL, GrpcProxy
from rollout.canary.router_metrics import RouterMetrics
from rollout.canary.routing import Split, StateWatcher, choose_label
from rollout.client_tls import ClientTls
from rollout.drift.monitor import DriftMonitor, DriftReading
from rollout.drift.payloads import probabilities_from_oip, probabilities_from_rest
from rollout.drift.sampler import DriftSampler, Sample
from rollout.policy import Policy, load_policy
from rollout.serving_client import model_path
from serving import defaults as serving_defaults
from serving import rest_json
from serving.aio_thread import LoopThread
from serving.errors import ServingError
from serving.model_paths import parse_model_url
from serving.oip import rest as oip_rest
from serving.oip import rest_codec

log = logging.getLogger(__name__)

PROTOCOL_REST = "rest"  # the protocol label, as the model server's metrics name them
PROTOCOL_OIP_REST = oip_rest.PROTOCOL
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
# Answer headers passed back to the client (the binary tensor extension's length, 405's Allow)
_ANSWER_HEADERS = ("Content-Type", rest_codec.HEADER_LENGTH, "Allow")
# Upstream answers meaning the canary could not serve at all (rather than judged the
# request): its version is not loaded (404, 503) or the server is unreachable (502).
CANARY_GONE_STATUSES = frozenset({404, 502, 503})


class Router:
    def __init__(
        self,
        upstream_rest: str,
        upstream_grpc: str,
        state_path: Path | str,
        policy: Policy | None = None,
        host: str = serving_defaults.LOOPBACK,
        rest_port: int = rollout_settings.ROUTER_REST_PORT,
        grpc_port: int = rollout_settings.ROUTER_GRPC_PORT,
        drift_monitor: DriftMonitor | None = None,
        model_name: str = configs.MODEL_NAME,
        seed: int | None = None,
        upstream_tls: ClientTls | None = None,
    ) -> None:
        self.upstream_rest = upstream_rest.rstrip("/")
        self.upstream_grpc = upstream_grpc
        self.policy = policy or load_policy()
        self.host = host
        self.rest_port = rest_port
        self.grpc_port = grpc_port
        self.model_name = model_name
        self.upstream_tls = upstream_tls
        # read now: a bad certificate path stops start-up, not the first request
        self._grpc_credentials = None if upstream_tls is None else upstream_tls.grpc_credentials()
        self._ssl_context = (
            upstream_tls.ssl_context()
            if upstream_tls is not None and self.upstream_rest.startswith("https://")
            else None
        )
        self.watcher = StateWatcher(Path(state_path), self.policy.router.state_poll_seconds)
        self.metrics = RouterMetrics()
        self.drift_monitor = drift_monitor
        self.sampler = (
            DriftSampler(drift_monitor, self._drift_added) if drift_monitor is not None else None
        )
        self._random = random.Random(seed)
        self._loop_thread = LoopThread("canary-router", self._setup, self._teardown)
        self._runner: web.AppRunner | None = None
        self._grpc_server: grpc.aio.Server | None = None

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> Router:
        """Bind both ports and serve; raises what binding raised (e.g. port in use)."""
        if self.sampler is not None:
            self.sampler.start()
        try:
            self._loop_thread.start()
        except BaseException:
            if self.sampler is not None:
                self.sampler.stop()
            raise
        log.info(
            "router on REST %s:%d, gRPC %s:%d -> %s / %s",
            self.host,
            self.rest_port,
            self.host,
            self.grpc_port,
            self.upstream_rest,
            self.upstream_grpc,
        )
        return self

    def stop(self) -> None:
        self._loop_thread.stop(timeout=15)
        if self.sampler is not None:
            self.sampler.stop()

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

    async def _setup(self) -> None:
        """Bind REST and gRPC on the loop thread; a failed bind undoes what was bound."""
        timeout = aiohttp.ClientTimeout(total=self.policy.router.upstream_timeout_seconds)
        connector = aiohttp.TCPConnector(ssl=self._ssl_context) if self._ssl_context else None
        self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        options = [("grpc.max_receive_message_length", serving_defaults.MAX_REQUEST_BYTES)]
        self._channel = (
            grpc.aio.insecure_channel(self.upstream_grpc, options=options)
            if self._grpc_credentials is None
            else grpc.aio.secure_channel(self.upstream_grpc, self._grpc_credentials, options)
        )
        app = web.Application(client_max_size=serving_defaults.MAX_REQUEST_BYTES)
        app.router.add_get(serving_defaults.PROMETHEUS_PATH, self._metrics)
        app.router.add_post(rollout_settings.FEEDBACK_PATH, self._feedback)
        app.router.add_route("*", "/{tail:.*}", self._proxy_rest)
        try:
            self._runner = runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.rest_port)
            await site.start()
            self.rest_port = site._server.sockets[0].getsockname()[1]
            self._grpc_server = server = grpc.aio.server(
                options=[("grpc.max_receive_message_length", serving_defaults.MAX_REQUEST_BYTES)]
            )
            server.add_generic_rpc_handlers((GrpcProxy(self),))
            self.grpc_port = server.add_insecure_port(f"{self.host}:{self.grpc_port}")
            await server.start()
        except BaseException:
            await self._teardown()
            raise

    async def _teardown(self) -> None:
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace=1)
        if self._runner is not None:
            await self._runner.cleanup()
        await self._session.close()
        await self._channel.close()
        self._grpc_server = self._runner = None

    # --- routing helpers ----------------------------------------------------------------
    def split(self) -> Split:
        """The current split, re-read from the state file when it changed. Every request and
        every scrape of the metrics page asks, so the weight and state-timestamp gauges are
        fresh at each scrape even with no traffic."""
        split = self.watcher.current()
        self.metrics.set_rollout_state(self.model_name, split.weight, split.updated_at)
        return split

    def _choose(self, split: Split, client_key: str | None) -> str:
        if split.canary is None:
            return rollout_settings.STABLE_LABEL
        return choose_label(split.weight, client_key, self._random.random)

    def _sample_drift(self, sample: Sample) -> None:
        """Hand a share of requests (undecoded: the closures run on the sampler's thread)
        to drift monitoring; constant time on the loop, never fails the request."""
        if self.sampler is None or self._random.random() >= self.sampler.monitor.policy.sample_rate:
            return
        self.sampler.submit(sample)

    def _drift_added(self, images: int, last: DriftReading | None) -> None:
        """Drift gauges after a sample was added (on the sampler's thread)."""
        self.metrics.drift_sampled.labels(self.model_name).inc(images)
        if last is not None:
            self.metrics.drift.labels(self.model_name).set(last.distance)
            self.metrics.drift_alert.labels(self.model_name).set(int(last.drifted))

    # --- REST ---------------------------------------------------------------------------
    async def _metrics(self, request: web.Request) -> web.Response:
        self.split()
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    async def _feedback(self, request: web.Request) -> web.Response:
        try:
            items = await request.json()
            items = items if isinstance(items, list) else [items]
            for item in items:
                outcome = "correct" if item["correct"] else "wrong"
                self.metrics.feedback.labels(
                    self.model_name, str(item["version"]), str(item["label"]), outcome
                ).inc()
        except (ValueError, KeyError, TypeError) as e:
            return web.json_response({"error": f"bad feedback: {e}"}, status=400)
        return web.json_response({"accepted": len(items)})

    async def _proxy_rest(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if oip_rest.is_oip_path(request.path):
            return await self._proxy_oip(request, body)
        url = parse_model_url("POST", request.path) if request.method == "POST" else None
        if url is None or url.name != self.model_name:
            return await self._forward(request, request.path_qs, body)
        verb = url.verb.lower()
        split = self.split()
        if url.version is not None:
            version = int(url.version)
            label, path = split.label_of(version), request.path_qs
        elif url.label is not None:
            label, path = url.label, request.path_qs
            version = split.version_of(label)
        else:
            label = self._choose(split, request.headers.get(rollout_settings.CLIENT_KEY_HEADER))
            version = split.version_of(label)
            path = model_path(self.model_name, verb, label=label)
        started = time.perf_counter()
        response = await self._forward(request, path, body)
        if url.version is None and url.label is None and self._canary_gone(label, response):
            self._served(response, label, version, started, [], PROTOCOL_REST)
            label, version = rollout_settings.STABLE_LABEL, split.stable
            started = time.perf_counter()
            path = model_path(self.model_name, verb, label=label)
            response = await self._forward(request, path, body)
        classes: list[int] = []
        ok = 200 <= response.status < 300
        if verb == "predict":
            answer = response.body if ok else b""
            if ok:
                classes = payloads.classes_from_rest(answer)
            self._sample_drift(
                Sample(
                    lambda: payloads.images_from_rest(body),
                    (lambda: probabilities_from_rest(rest_json.parse_body(answer))) if ok else None,
                    version,
                )
            )
        return self._served(response, label, version, started, classes, PROTOCOL_REST)

    async def _proxy_oip(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """``/v2``: ``infer`` on our model without a version gets a label by the weight (the
        model server takes a label as the version); health, metadata, readiness, other
        models and pinned versions pass through unchanged."""
        try:
            route = oip_rest.route(request.method, request.path)
        except ServingError:  # the model server gives the protocol's error answer
            route = None
        if route is None or route.kind != "infer" or route.name != self.model_name:
            return await self._forward(request, request.path_qs, body)
        split = self.split()
        query = f"?{request.query_string}" if request.query_string else ""
        if route.version is None:
            label = self._choose(split, request.headers.get(rollout_settings.CLIENT_KEY_HEADER))
            version = split.version_of(label)
            path = oip_infer_path(self.model_name, label) + query
        elif route.version.isdigit():
            version, path = int(route.version), request.path_qs
            label = split.label_of(version)
        else:
            label, path = route.version, request.path_qs
            version = split.version_of(label)
        started = time.perf_counter()
        response = await self._forward(request, path, body)
        if route.version is None and self._canary_gone(label, response):
            self._served(response, label, version, started, [], PROTOCOL_OIP_REST)
            label, version = rollout_settings.STABLE_LABEL, split.stable
            started = time.perf_counter()
            response = await self._forward(
                request, oip_infer_path(self.model_name, label) + query, body
            )
        classes: list[int] = []
        if 200 <= response.status < 300:
            answer = response.body if isinstance(response.body, bytes) else b""
            length = response.headers.get(rest_codec.HEADER_LENGTH)
            served, outputs = oip_payloads.answer_from_rest(answer, length)
            classes = oip_payloads.classes(outputs)
            version = version if served is None else served
            asked = request.headers.get(rest_codec.HEADER_LENGTH)
            self._sample_drift(
                Sample(
                    lambda: oip_payloads.images_from_rest(body, asked),
                    lambda: probabilities_from_oip(outputs),
                    version,
                )
            )
        return self._served(response, label, version, started, classes, PROTOCOL_OIP_REST)

    @staticmethod
    def _canary_gone(label: str, response: web.Response) -> bool:
        """Whether a request routed to the canary should be served by stable instead."""
        if label != rollout_settings.CANARY_LABEL:
            return False
        if response.status in CANARY_GONE_STATUSES:
            return True
        body = response.body if isinstance(response.body, bytes) else b""
        return response.status == 400 and UNKNOWN_LABEL.encode() in body

    def _served(
        self,
        response: web.Response,
        label: str,
        version: int | None,
        started: float,
        classes: list[int],
        protocol: str,
    ) -> web.Response:
        """Count a routed request and tell the client who served it."""
        ok = 200 <= response.status < 300
        self.metrics.observe(
            self.model_name,
            version,
            label,
            time.perf_counter() - started,
            ok,
            str(response.status),
            classes,
            protocol=protocol,
        )
        response.headers[rollout_settings.SERVED_LABEL_HEADER] = label
        if version is not None:
            response.headers[rollout_settings.SERVED_VERSION_HEADER] = str(version)
        return response

    async def _forward(self, request: web.Request, path: str, body: bytes) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            async with self._session.request(
                request.method, self.upstream_rest + path, data=body, headers=headers
            ) as upstream:
                payload = await upstream.read()
                kept = {k: upstream.headers[k] for k in _ANSWER_HEADERS if k in upstream.headers}
                kept.setdefault("Content-Type", "application/json")
                return web.Response(body=payload, status=upstream.status, headers=kept)
        except asyncio.TimeoutError:
            seconds = self.policy.router.upstream_timeout_seconds
            return web.json_response(
                {"error": f"model server did not answer within {seconds:g}s"}, status=504
            )
        except aiohttp.ClientError as e:
            return web.json_response({"error": f"model server unreachable: {e}"}, status=502)


def oip_infer_path(model: str, version: str) -> str:
    """``/v2/models/<model>/versions/<version or label>/infer``, names percent-encoded."""
    return f"/v2/models/{quote(model, safe='')}/versions/{quote(version, safe='')}/infer"
