"""Typed request errors, and the one table from a status code to its gRPC and HTTP codes.

A client mistake is raised as one of the :class:`ServingError` subclasses below
(:class:`InvalidArgument`, :class:`NotFound`, :class:`FailedPrecondition`, ...), each
carrying TF Serving's status code name. Every front end answers with the same code and
message: gRPC aborts with the code's number (``tensorflow.error.Code`` and
``grpc.StatusCode`` share them), REST uses the HTTP status of TF Serving's REST gateway.

Anything else that escapes a request (a ``ValueError`` or ``KeyError`` from a bug) is *not*
the client's fault: :func:`from_exception` turns it into :class:`Internal` (HTTP 500,
``INTERNAL``) and the data plane logs its traceback. TensorFlow's own ``OpError`` keeps the
code TensorFlow gave it, as in TF Serving.
"""

from __future__ import annotations

import re
import sys
from typing import ClassVar, NamedTuple

_FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}")
_NODE_TRAILER = re.compile(r"\n\t \[\[.*?\]\]", re.DOTALL)


class Status(NamedTuple):
    number: int  # tensorflow.error.Code == grpc.StatusCode value
    http: int  # TF Serving's REST gateway (model_servers/http_server.cc ToHTTPStatusCode)


STATUS: dict[str, Status] = {
    "OK": Status(0, 200),
    "CANCELLED": Status(1, 499),
    "UNKNOWN": Status(2, 500),
    "INVALID_ARGUMENT": Status(3, 400),
    "DEADLINE_EXCEEDED": Status(4, 504),
    "NOT_FOUND": Status(5, 404),
    "ALREADY_EXISTS": Status(6, 409),
    "PERMISSION_DENIED": Status(7, 403),
    "RESOURCE_EXHAUSTED": Status(8, 429),
    "FAILED_PRECONDITION": Status(9, 400),
    "ABORTED": Status(10, 409),
    "OUT_OF_RANGE": Status(11, 400),
    "UNIMPLEMENTED": Status(12, 501),
    "INTERNAL": Status(13, 500),
    "UNAVAILABLE": Status(14, 503),
    "DATA_LOSS": Status(15, 500),
    "UNAUTHENTICATED": Status(16, 401),
}
_BY_NUMBER = {status.number: name for name, status in STATUS.items()}


def code_number(code: str) -> int:
    """The numeric status code (``UNKNOWN``'s 2 for a name that is not in the table)."""
    return STATUS.get(code, STATUS["UNKNOWN"]).number


def code_name(number: int) -> str:
    return _BY_NUMBER.get(number, "UNKNOWN")


class ServingError(Exception):
    """A request failed with a TF Serving status code; raise a subclass, not this."""

    code: str = "UNKNOWN"

    def __init__(self, *args: object, http_status: int | None = None) -> None:
        # ServingError(code, message) for a code chosen at run time; Subclass(message).
        if type(self) is ServingError and len(args) == 2:
            self.code = str(args[0])
            args = args[1:]
        message = str(args[0]) if args else ""
        super().__init__(message)
        self.message = message
        self._http = http_status

    @property
    def http_status(self) -> int:
        """TF Serving's HTTP status for the code (or an explicit one, e.g. 413)."""
        return self._http or STATUS.get(self.code, STATUS["UNKNOWN"]).http

    @property
    def number(self) -> int:
        return code_number(self.code)


class InvalidArgument(ServingError):
    code = "INVALID_ARGUMENT"


class NotFound(ServingError):
    code = "NOT_FOUND"


class FailedPrecondition(ServingError):
    code = "FAILED_PRECONDITION"


class Unavailable(ServingError):
    code = "UNAVAILABLE"


class ResourceExhausted(ServingError):
    code = "RESOURCE_EXHAUSTED"


class Unimplemented(ServingError):
    code = "UNIMPLEMENTED"


class DeadlineExceeded(ServingError):
    code = "DEADLINE_EXCEEDED"


class Internal(ServingError):
    """A server-side failure (a bug, or TensorFlow's INTERNAL): never the client's fault."""

    code = "INTERNAL"


_TYPED: dict[str, type[ServingError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        Unavailable,
        ResourceExhausted,
        Unimplemented,
        DeadlineExceeded,
        Internal,
    )
}


def error(code: str, message: str) -> ServingError:
    """The typed error for a status code name known only at run time (e.g. TF's)."""
    cls = _TYPED.get(code)
    return cls(message) if cls is not None else ServingError(code, message)


# Short constructors, the names most call sites use.
invalid = InvalidArgument
not_found = NotFound


class UnexpectedError(Internal):
    """An exception that is not a ServingError: a bug; its traceback belongs in the log."""

    expected: ClassVar[bool] = False


def from_exception(exc: BaseException) -> ServingError:
    """Map anything raised while serving to a ServingError (bugs become UnexpectedError)."""
    if isinstance(exc, ServingError):
        return exc
    tf = sys.modules.get("tensorflow")  # only TensorFlow's own errors can come from it
    if tf is not None and isinstance(exc, tf.errors.OpError):
        return error(code_name(exc.error_code), tf_message(exc.message) or type(exc).__name__)
    if isinstance(exc, MemoryError):
        return ResourceExhausted("out of memory while handling the request")
    return UnexpectedError(f"{type(exc).__name__}: {exc}")


MAX_MESSAGE_CHARS = 500  # TF quotes request bytes in some messages: keep answers and logs small


def tf_message(message: object) -> str:
    """TensorFlow's message made safe to send and log: its first line, without graph
    node noise, request bytes backslash-escaped (never raw, never a decoding crash), cut
    at MAX_MESSAGE_CHARS."""
    if isinstance(message, bytes):
        # Bytes: the request's bytes are inside, newlines included; only TF's own
        # "\n\t [[{{node ...}}]]" trailers are cut, the rest is kept and escaped below.
        text = message.decode("utf-8", "backslashreplace")
        text = _NODE_TRAILER.sub("", text).split("\n\nErrors may have originated")[0]
    else:
        text = str(message).split("\n")[0]
    text = _FUNCTION_NODE.sub("", text).strip()
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = f"{text[:MAX_MESSAGE_CHARS]}... ({len(text)} characters)"
    return text


__all__ = [
    "STATUS",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "ResourceExhausted",
    "ServingError",
    "Unavailable",
    "UnexpectedError",
    "Unimplemented",
    "code_name",
    "code_number",
    "error",
    "from_exception",
    "invalid",
    "not_found",
    "tf_message",
]
