"""REST front end (aiohttp): TF Serving's ``/v1/models/...`` API plus metrics and health.

Routes, as in TF Serving's HTTP gateway::

    GET  /v1/models/<name>[/versions/<v>|/labels/<l>]            model status
    GET  /v1/models/<name>[/versions/<v>|/labels/<l>]/metadata   signature defs
    POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict    row or columnar JSON
    GET  <prometheus path>                                       Prometheus exposition
    GET  /healthz                                                200 if any version is up

Errors are ``{"error": "..."}`` with TF Serving's status mapping (400/404/405/413/...).
The event loop only moves bytes: JSON decoding, the model call and encoding run in a thread
pool, so concurrent requests use every core. One extension: predict answers carry an
``X-Model-Version`` header naming the version that served them (TF Serving sends none;
portable clients must not rely on it).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Executor

from aiohttp import web
from google.protobuf import json_format

from serving import rest_json
from serving.errors import ServingError, invalid, not_found
from serving.request_handler import RequestHandler

VERSION_HEADER = "X-Model-Version"
HEALTH_PATH = "/healthz"
_MODEL_URL = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?/?$")
_JSON = "application/json"


def _json_response(payload, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=json.dumps(payload).encode(), status=status,
                        content_type=_JSON, headers=headers)


def _error(err: ServingError) -> web.Response:
    return _json_response({"error": err.message}, err.http_status)


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise invalid(f"version in the URL must be a non-negative integer, got {text!r}")
    return int(text)


class RestServer:
    """The REST listener on its own event loop thread; :meth:`start` binds synchronously."""

    def __init__(self, handler: RequestHandler, host: str, port: int, pool: Executor, *,
                 max_request_bytes: int, metrics_path: str,
                 healthy: Callable[[], tuple[bool, dict]]) -> None:
        self.handler = handler
        self.host, self.port = host, port
        self._pool = pool
        self._max = max_request_bytes
        self._metrics_path = metrics_path
        self._healthy = healthy
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

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
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                app = web.Application(client_max_size=self._max)
                app.router.add_route("*", "/{tail:.*}", self._dispatch)
                self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
                self._loop.run_until_complete(self._runner.setup())
                self._loop.run_until_complete(web.SockSite(self._runner, sock).start())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="rest-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.port

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    # -- routing ------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == self._metrics_path or path == HEALTH_PATH:
            if request.method not in ("GET", "HEAD"):
                return _json_response({"error": f"{request.method} not allowed"}, 405)
            return self._metrics() if path == self._metrics_path else self._health()
        m = _MODEL_URL.match(path)
        if not m:
            return _error(not_found(f"Malformed request: {request.method} {path}"))
        verb = m["verb"]
        if verb is not None and verb not in ("predict", "classify", "regress"):
            return _error(not_found(f"Malformed request: unknown method ':{verb}'"))
        want = "POST" if verb else "GET"
        if request.method != want:
            return _json_response(
                {"error": f"Malformed request: {request.method} not allowed on {path}; "
                          f"use {want}"}, 405, headers={"Allow": want})
        name, label = m["name"], m["label"]
        if verb:
            return await self._predict(request, name, m["version"], label, verb)
        api = "metadata" if m["metadata"] else "status"
        return await self._run(self._get_sync, api, name, m["version"], label)

    async def _run(self, fn, *args) -> web.Response:
        loop = asyncio.get_running_loop()
        status, payload, headers = await loop.run_in_executor(self._pool, fn, *args)
        return web.Response(body=payload, status=status, content_type=_JSON, headers=headers)

    async def _predict(self, request: web.Request, name: str, version: str | None,
                       label: str | None, verb: str) -> web.Response:
        try:
            if request.content_length is not None and request.content_length > self._max:
                raise ServingError("RESOURCE_EXHAUSTED",
                                   f"request body of {request.content_length} bytes exceeds "
                                   f"the limit of {self._max} bytes")
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge as exc:
                raise ServingError("RESOURCE_EXHAUSTED",
                                   f"request body exceeds the limit of {self._max} bytes"
                                   ) from exc
        except ServingError as err:
            try:  # counted and logged like any other failed request
                with self.handler.track("rest", verb, name):
                    raise err
            except ServingError:
                pass
            return _error(err)
        return await self._run(self._predict_sync, body, name, version, label, verb)

    # -- work, on pool threads ----------------------------------------------------------------
    def _predict_sync(self, body: bytes, name: str, version: str | None, label: str | None,
                      verb: str) -> tuple[int, bytes, dict]:
        try:
            with self.handler.track("rest", verb, name) as t:
                if verb != "predict":
                    raise ServingError(
                        "UNIMPLEMENTED", f"REST ':{verb}' is not implemented by this server; "
                        "use ':predict', or gRPC Classify for classification signatures")
                doc = rest_json.parse_body(body)
                sig_name = doc.get("signature_name")
                if sig_name is not None and not isinstance(sig_name, str):
                    raise invalid("'signature_name' must be a string")
                row: list[bool] = []

                def decode(sig):
                    inputs, is_row = rest_json.request_inputs(doc, sig)
                    row.append(is_row)
                    return inputs

                result = self.handler.predict(t, _version(version), label, sig_name, decode)
                payload = json.dumps(rest_json.response_body(result.outputs, row[0])).encode()
                return 200, payload, {VERSION_HEADER: str(result.version)}
        except ServingError as err:
            return err.http_status, json.dumps({"error": err.message}).encode(), {}

    def _get_sync(self, api: str, name: str, version: str | None,
                  label: str | None) -> tuple[int, bytes, dict]:
        try:
            with self.handler.track("rest", api, name) as t:
                if api == "status":
                    doc = {"model_version_status": [
                        {"version": str(s.version), "state": s.state,
                         "status": {"error_code": s.error_code,
                                    "error_message": s.error_message}}
                        for s in self.handler.status(t, _version(version), label)]}
                else:
                    used, sig_map = self.handler.metadata(t, _version(version), label)
                    doc = {"model_spec": {"name": name, "signature_name": "",
                                          "version": str(used)},
                           "metadata": {"signature_def": json_format.MessageToDict(
                               sig_map, preserving_proto_field_name=True)}}
                return 200, json.dumps(doc).encode(), {}
        except ServingError as err:
            return err.http_status, json.dumps({"error": err.message}).encode(), {}

    def _metrics(self) -> web.Response:
        self.handler.metrics.refresh(self.handler.manager.available_versions())
        return web.Response(body=self.handler.metrics.exposition(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    def _health(self) -> web.Response:
        ok, detail = self._healthy()
        return _json_response({"status": "ok" if ok else "unavailable", **detail},
                              200 if ok else 503)
