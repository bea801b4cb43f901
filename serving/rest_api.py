"""REST front end (aiohttp): TF Serving's ``/v1/models/...`` API, plus metrics and health.

Routes, matched with TF Serving's own patterns (:mod:`serving.model_paths`)::

    GET  /v1/models/<name>[/versions/<v>|/labels/<l>]            model status
    GET  /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata   signature defs
    POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict    row or columnar JSON
    POST /v1/models/<name>[/versions/<v>|/labels/<l>]:classify   {"examples", "context"}
    POST /v1/models/<name>[/versions/<v>|/labels/<l>]:regress    {"examples", "context"}
    GET  <prometheus path>      Prometheus exposition (only when monitoring is enabled)
    GET  /healthz               extension: 200 when any model version is AVAILABLE

Anything else is TF Serving's ``400 {"error": "Malformed request: <METHOD> <path>"}``.
Errors use TF Serving's status-to-HTTP mapping. Each request is linear on a pool thread:
decode the JSON, lease the version, run, encode. The event loop only moves bytes.
Extensions (documented in docs/serving.md): ``X-Model-Version`` on answers, 413 for
bodies over ``max_request_bytes``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from aiohttp import web
from google.protobuf import json_format

from serving import inference, rest_json
from serving.aio_thread import LoopThread
from serving.defaults import HEALTH_PATH, VERSION_HEADER
from serving.errors import ServingError, invalid
from serving.examples import input_from_json
from serving.model_paths import ModelUrl, parse_model_url
from serving.request_handler import RequestHandler

_JSON = "application/json"
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}
Reply = tuple[int, bytes, dict[str, str]]


def _error_reply(err: ServingError) -> Reply:
    return err.http_status, rest_json.dumps({"error": err.message}), {}


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value >= 2**63:
        raise invalid(f"Failed to convert version: {text} to numeric.")
    return value


def _signature_name(doc: dict) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid(
            "JSON Value: request body not formatted correctly. 'signature_name' key "
            "must be a string value."
        )
    return name


class RestServer:
    """The REST listener on its own event loop thread; :meth:`start` binds synchronously."""

    def __init__(
        self,
        handler: RequestHandler,
        host: str,
        port: int,
        pool: Executor,
        *,
        max_request_bytes: int,
        metrics_path: str | None,
        healthy: Callable[[], tuple[bool, dict]],
        cors: bool = False,
    ) -> None:
        self.handler = handler
        self._cors = _CORS_HEADERS if cors else {}
        self.host, self.port = host, port
        self._pool = pool
        self._max = max_request_bytes
        self._metrics_path = metrics_path
        self._healthy = healthy
        self._runner: web.AppRunner | None = None
        self._thread: LoopThread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> int:
        """Bind (raising OSError if the port is taken), serve in a thread, return the port."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(512)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.port = sock.getsockname()[1]

        async def setup() -> None:
            app = web.Application(client_max_size=self._max)
            app.router.add_route("*", "/{tail:.*}", self._dispatch)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        async def teardown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        self._thread = LoopThread("rest-server", setup, teardown)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    # -- routing ------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method in ("GET", "HEAD"):
            if self._metrics_path and path == self._metrics_path:
                return self._metrics()
            if path == HEALTH_PATH:
                return self._health()
        url = parse_model_url(request.method, request.rel_url.raw_path)  # decoded there
        if url is None or (
            request.method == "POST" and url.verb not in ("predict", "classify", "regress")
        ):
            err = invalid(f"Malformed request: {request.method} {path}")
            # TF Serving counts every REST request, unroutable ones under the model name
            # its URL regex captured ("" when none).
            self.handler.count_failure(
                "rest", url.verb if url else "", url.name if url else "", err
            )
            return self._respond(_error_reply(err))
        body = b""
        if request.method == "POST":
            try:
                body = await self._read_body(request)
            except ServingError as err:
                self.handler.count_failure("rest", url.verb, url.name, err)
                return self._respond(_error_reply(err))
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(self._pool, self._handle, url, body)
        return self._respond(reply)

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self._max:
            raise ServingError(
                "RESOURCE_EXHAUSTED",
                f"request body of "
                f"{request.content_length} bytes exceeds the limit of "
                f"{self._max} bytes",
                http_status=413,
            )
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise ServingError(
                "RESOURCE_EXHAUSTED",
                f"request body exceeds the limit of {self._max} bytes",
                http_status=413,
            ) from exc

    def _respond(self, reply: Reply) -> web.Response:
        status, payload, headers = reply
        if self._cors:
            headers = {**headers, **self._cors}
        return web.Response(body=payload, status=status, content_type=_JSON, headers=headers)

    # -- work, on pool threads ----------------------------------------------------------------
    def _handle(self, url: ModelUrl, body: bytes) -> Reply:
        try:
            if url.verb in ("status", "metadata"):
                return 200, self._get(url), {}
            return self._post(url, body)
        except ServingError as err:
            return _error_reply(err)

    def _post(self, url: ModelUrl, body: bytes) -> Reply:
        handler = self.handler
        with handler.track("rest", url.verb, url.name) as t:
            doc = rest_json.parse_body(body)
            signature_name = _signature_name(doc)
            if url.verb == "predict":
                with handler.lease(t, _version(url.version), url.label) as servable:
                    sig = inference.signature_for_rest(servable, signature_name)
                    t.signature = sig.name
                    inputs, row_format = rest_json.request_inputs(doc, sig)
                    t.batch = _rows(inputs)
                    outputs = inference.predict(servable, sig, inputs, (), handler.run_options)
                    answer: Any = rest_json.predict_response(outputs, row_format)
                    version = servable.version
            else:
                from tensorflow_serving.apis import input_pb2

                request_input = input_pb2.Input()
                input_from_json(doc, request_input)
                with handler.lease(t, _version(url.version), url.label) as servable:
                    run = inference.classify if url.verb == "classify" else inference.regress
                    sig, result = run(servable, signature_name, request_input, handler.run_options)
                    t.signature = sig.name
                    version = servable.version
                if url.verb == "classify":
                    t.batch = len(result.classifications)
                    answer = rest_json.classify_response(result)
                else:
                    t.batch = len(result.regressions)
                    answer = rest_json.regress_response(result)
            return 200, rest_json.dumps(answer), {VERSION_HEADER: str(version)}

    def _get(self, url: ModelUrl) -> bytes:
        with self.handler.track("rest", url.verb, url.name) as t:
            if not url.name:  # inside track(): counted, as TF Serving counts it
                raise invalid("Missing model name in request.")
            if url.verb == "status":
                from tensorflow_serving.apis import get_model_status_pb2

                response = get_model_status_pb2.GetModelStatusResponse()
                for s in self.handler.status(t, _version(url.version), url.label):
                    entry = response.model_version_status.add()
                    entry.version = s.version
                    entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(s.state)
                    entry.status.error_code = _grpc_code(s.error_code)
                    entry.status.error_message = s.error_message
                return rest_json.dumps(
                    json_format.MessageToDict(response, including_default_value_fields=True)
                )
            with self.handler.lease(t, _version(url.version), url.label) as servable:
                from tensorflow_serving.apis import model_pb2

                spec = model_pb2.ModelSpec(name=url.name)
                spec.version.value = servable.version
                options = dict(
                    including_default_value_fields=True, preserving_proto_field_name=True
                )
                doc = {
                    "model_spec": json_format.MessageToDict(spec, **options),
                    "metadata": {
                        "signature_def": json_format.MessageToDict(
                            servable.signature_def_map, **options
                        )
                    },
                }
            return rest_json.dumps(doc)

    def _metrics(self) -> web.Response:
        self.handler.metrics.refresh(self.handler.manager.available_versions())
        return web.Response(
            body=self.handler.metrics.exposition(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    def _health(self) -> web.Response:
        ok, detail = self._healthy()
        payload = rest_json.dumps({"status": "ok" if ok else "unavailable", **detail})
        return web.Response(body=payload, status=200 if ok else 503, content_type=_JSON)


def _rows(inputs) -> int:
    sizes = {v.shape[0] if v.ndim else 0 for v in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else 0


def _grpc_code(name: str) -> int:
    import grpc

    return {c.name: c.value[0] for c in grpc.StatusCode}.get(name, 2)
