"""One error type for the whole server, carrying TF Serving's status code.

Handlers raise :class:`ServingError`; the gRPC layer turns its code into a ``grpc.StatusCode``
and the REST layer into the HTTP status TF Serving's REST gateway uses, with the same
message, so both protocols fail the same way for the same request.
"""

from __future__ import annotations

import re

_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}")

# TF Serving's HTTP mapping of status codes (model_servers/http_server.cc ToHTTPStatusCode).
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A request failed with a TF Serving status code (``NOT_FOUND``, ``INVALID_ARGUMENT``…)."""

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self._http = http_status

    @property
    def http_status(self) -> int:
        """TF Serving's HTTP status for the code (or an explicit one, e.g. 413)."""
        return self._http or HTTP_STATUS.get(self.code, 500)


def invalid(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    return ServingError("NOT_FOUND", message)


def from_exception(exc: BaseException) -> ServingError:
    """Map anything raised while serving (TF op errors included) to a ServingError."""
    if isinstance(exc, ServingError):
        return exc
    import tensorflow as tf

    if isinstance(exc, tf.errors.OpError):
        name = _TF_CODES.get(exc.error_code, "UNKNOWN")
        message = _FUNCTION_NODE.sub("", exc.message.split("\n")[0]).strip()
        return ServingError(name, message or type(exc).__name__)
    if isinstance(exc, (ValueError, TypeError, RecursionError)):
        return invalid(str(exc) or type(exc).__name__)
    if isinstance(exc, MemoryError):
        return ServingError("RESOURCE_EXHAUSTED", "out of memory while handling the request")
    return ServingError("INTERNAL", f"{type(exc).__name__}: {exc}")


# tf.errors error_code ints (== absl/grpc status codes) to names.
_TF_CODES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
