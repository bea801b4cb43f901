"""The Open Inference Protocol's REST API, served beside TF Serving's ``/v1`` on its port.

Routes (``PATHS`` is the list the rollout router forwards)::

    GET  /v2/health/live                              200 when the process answers
    GET  /v2/health/ready                             200 when a model version is AVAILABLE
    GET  /v2                                          server metadata
    GET  /v2/models/<m>[/versions/<v>]                model metadata
    GET  /v2/models/<m>[/versions/<v>]/ready          200 ready, 400 not ready, 404 unknown
    POST /v2/models/<m>[/versions/<v>]/infer          JSON tensors + binary extension

Errors are ``{"error": "<message>"}`` with the HTTP status of the error's code (400 for a
bad request, 404 for an unknown model or version, 413 for a body over the size limit);
an unknown ``/v2`` path is 404 and a known one with the wrong method 405. The REST front
end (:mod:`serving.rest_api`) hands every ``/v2`` request to :func:`respond`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass

from aiohttp import web

from serving import rest_json
from serving.data_plane import DataPlane
from serving.errors import NotFound, ServingError, from_exception
from serving.oip import rest_codec, service

log = logging.getLogger("serving.oip.rest")
PROTOCOL = "rest-oip"
PREFIX = "/v2"
# Path patterns the rollout router should forward (regular expressions over the path).
PATHS = (
    r"^/v2/?$",
    r"^/v2/health/(live|ready)$",
    r"^/v2/models/[^/]+(/versions/[^/]+)?(/ready|/infer)?$",
)
_MODEL = re.compile(
    r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<verb>/ready|/infer)?$"
)
Reply = tuple[int, bytes, dict[str, str]]


@dataclass(frozen=True)
class Route:
    method: str  # GET or POST
    kind: str  # live, ready, server, model, model_ready, infer
    name: str = ""
    version: str | None = None


class MethodNotAllowed(ServingError):
    """A known path asked with another method: 405 with the ``Allow`` header (RFC 9110)."""

    code = "INVALID_ARGUMENT"

    def __init__(self, message: str, allow: str) -> None:
        super().__init__(message, http_status=405)
        self.allow = "GET, HEAD" if allow == "GET" else allow


def is_oip_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def route(method: str, path: str) -> Route:
    """The route of a ``/v2`` request (NOT_FOUND for an unknown path, 405 for the method)."""
    method = "GET" if method == "HEAD" else method
    if path in ("/v2", "/v2/"):
        found = Route("GET", "server")
    elif path in ("/v2/health/live", "/v2/health/ready"):
        found = Route("GET", path.rsplit("/", 1)[1])
    else:
        match = _MODEL.match(path)
        if match is None:
            raise NotFound(f"no Open Inference Protocol endpoint at {path}")
        verb = match["verb"]
        kind = {None: "model", "/ready": "model_ready", "/infer": "infer"}[verb]
        found = Route("POST" if kind == "infer" else "GET", kind, match["name"], match["version"])
    if method != found.method:
        raise MethodNotAllowed(f"{path} takes {found.method}, not {method}", allow=found.method)
    return found


def _json(status: int, doc: object) -> Reply:
    return status, rest_json.dumps(doc), {"Content-Type": rest_codec.JSON_TYPE}


def _error(err: ServingError) -> Reply:
    status, payload, headers = _json(err.http_status, {"error": err.message})
    if isinstance(err, MethodNotAllowed):
        headers["Allow"] = err.allow
    return status, payload, headers


def handle(plane: DataPlane, r: Route, headers: Mapping[str, str], body: bytes) -> Reply:
    """One request's answer (run on a pool thread: decoding and inference are CPU work)."""
    try:
        if r.kind == "live":
            return _json(200, {"live": service.server_live()})
        if r.kind == "ready":
            ready = service.server_ready(plane)
            return _json(200 if ready else 400, {"ready": ready})
        if r.kind == "server":
            return _json(200, service.server_metadata())
        if r.kind == "model":
            return _json(200, service.model_metadata(plane, PROTOCOL, r.name, r.version))
        if r.kind == "model_ready":
            if not service.model_ready(plane, r.name, r.version):
                version = f" version {r.version}" if r.version else ""
                return _json(400, {"error": f"model '{r.name}'{version} is not ready"})
            return _json(200, {"name": r.name, "ready": True})
        header_length = headers.get(rest_codec.HEADER_LENGTH)
        request, response = service.infer(
            plane,
            PROTOCOL,
            r.name,
            lambda: rest_codec.parse_infer_request(body, header_length, r.name, r.version),
        )
        payload, reply_headers = rest_codec.encode_infer_response(response, request)
        return 200, payload, reply_headers
    except ServingError as err:
        return _error(err)
    except Exception as exc:  # a bug outside the tracked call: still the protocol's shape
        log.exception("OIP %s on %r failed unexpectedly", r.kind, r.name)
        return _error(from_exception(exc))


async def respond(
    request: web.Request,
    plane: DataPlane,
    pool: Executor,
    read_body: Callable[[web.Request], Awaitable[bytes]],
) -> web.Response:
    """Answer a ``/v2`` request; ``read_body`` is the REST server's (its size limit, 413)."""
    try:
        r = route(request.method, request.path)
        body = await read_body(request) if r.method == "POST" else b""
    except ServingError as err:  # unroutable, or a body over the limit: counted, answered
        plane.count_failure(PROTOCOL, "", "", err)
        reply = _error(err)
    else:
        if r.kind in ("live", "ready", "server"):
            reply = handle(plane, r, {}, b"")
        else:
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(pool, handle, plane, r, request.headers, body)
    status, payload, headers = reply
    return web.Response(body=payload, status=status, headers=headers)
