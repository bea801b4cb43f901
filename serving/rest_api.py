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
from serving.data_plane import DataPlane, ModelRef, Tracked, status_response
from serving.defaults import HEALTH_PATH, VERSION_HEADER
from serving.errors import ResourceExhausted, ServingError, invalid
from serving.examples import input_from_json
from serving.model_paths import ModelUrl, parse_model_url
from serving.oip import rest as oip_rest
from serving.signatures import Signature

_JSON = "application/json"
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}
Reply = tuple[int, bytes, dict[str, str]]


def _error_reply(err: ServingError) -> Reply:
    return err.http_status, rest_json.dumps({"error": err.message}), {}


def _ref(url: ModelUrl) -> ModelRef:
    """The model version a URL asks for (TF Serving's version overflow message)."""
    version = None
    if url.version is not None:
        version = int(url.version)
        if version >= 2**63:
            raise invalid(f"Failed to convert version: {url.version} to numeric.")
    return ModelRef(url.name, version, url.label)


def _decode_predict(doc: dict, sig: Signature, formats: list[bool]) -> dict:
    """The JSON body's input arrays; records whether it used the row form."""
    inputs, row_format = rest_json.request_inputs(doc, sig)
    formats.append(row_format)
    return inputs


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
        plane: DataPlane,
        host: str,
        port: int,
        pool: Executor,
        *,
        max_request_bytes: int,
        metrics_path: str | None,
        healthy: Callable[[], tuple[bool, dict]],
        cors: bool = False,
    ) -> None:
        self.plane = plane
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
            # Every path, newlines included (".*" would leave "%0A" to aiohttp's text 404).
            app.router.add_route("*", r"/{tail:[\s\S]*}", self._dispatch)
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
        if oip_rest.is_oip_path(path):  # the Open Inference Protocol, beside /v1
            return await oip_rest.respond(request, self.plane, self._pool, self._read_body)
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
            self.plane.count_failure("rest", url.verb if url else "", url.name if url else "", err)
            return self._respond(_error_reply(err))
        body = b""
        if request.method == "POST":
            try:
                body = await self._read_body(request)
            except ServingError as err:
                self.plane.count_failure("rest", url.verb, url.name, err)
                return self._respond(_error_reply(err))
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(self._pool, self._handle, url, body)
        return self._respond(reply)

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self._max:
            raise ResourceExhausted(
                f"request body of "
                f"{request.content_length} bytes exceeds the limit of "
                f"{self._max} bytes",
                http_status=413,
            )
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise ResourceExhausted(
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
            with self.plane.track("rest", url.verb, url.name) as t:
                if url.verb in ("status", "metadata"):
                    return 200, self._get(t, url), {}
                return self._post(t, url, body)
        except ServingError as err:
            return _error_reply(err)

    def _post(self, t: Tracked, url: ModelUrl, body: bytes) -> Reply:
        plane = self.plane
        doc = rest_json.parse_body(body)
        signature_name = _signature_name(doc)
        ref = _ref(url)
        if url.verb == "predict":
            formats: list[bool] = []
            answer = plane.predict(
                t,
                ref,
                signature_name,
                lambda sig: _decode_predict(doc, sig, formats),
                lookup=inference.REST_PREDICT,
            )
            payload: Any = rest_json.predict_response(answer.outputs, formats[0])
            version = answer.version
        else:
            from tensorflow_serving.apis import input_pb2

            request_input = input_pb2.Input()
            input_from_json(doc, request_input)
            if url.verb == "classify":
                version, _, result = plane.classify(t, ref, signature_name, request_input)
                payload = rest_json.classify_response(result)
            else:
                version, _, result = plane.regress(t, ref, signature_name, request_input)
                payload = rest_json.regress_response(result)
        return 200, rest_json.dumps(payload), {VERSION_HEADER: str(version)}

    def _get(self, t: Tracked, url: ModelUrl) -> bytes:
        if not url.name:  # inside track(): counted, as TF Serving counts it
            raise invalid("Missing model name in request.")
        ref = _ref(url)
        if url.verb == "status":
            response = status_response(self.plane.status(t, ref))
            return rest_json.dumps(
                json_format.MessageToDict(response, including_default_value_fields=True)
            )
        from tensorflow_serving.apis import model_pb2

        version, signature_def_map = self.plane.metadata(t, ref)
        spec = model_pb2.ModelSpec(name=url.name)
        spec.version.value = version
        options = dict(including_default_value_fields=True, preserving_proto_field_name=True)
        doc = {
            "model_spec": json_format.MessageToDict(spec, **options),
            "metadata": {"signature_def": json_format.MessageToDict(signature_def_map, **options)},
        }
        return rest_json.dumps(doc)

    def _metrics(self) -> web.Response:
        self.plane.metrics.refresh(self.plane.manager.available_versions())
        return web.Response(
            body=self.plane.metrics.exposition(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    def _health(self) -> web.Response:
        ok, detail = self._healthy()
        payload = rest_json.dumps({"status": "ok" if ok else "unavailable", **detail})
        return web.Response(body=payload, status=200 if ok else 503, content_type=_JSON)
