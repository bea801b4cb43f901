"""Text-format protos from files (model, monitoring, batching, session and SSL configs),
failing the way TF Serving does.

TF Serving reads these with protobuf's C++ parser, which first reports *where* the text is
wrong on stderr (``Error parsing text-format tensorflow.serving.ModelServerConfig: 1:1:
Message type ... has no field named "garbage".``) and then fails start-up with
``INVALID_ARGUMENT: Invalid protobuf file: '<path>'``. :class:`TextProtoError` carries both:
``report`` (the parser's line) and ``status`` (the start-up error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class TextProtoError(ValueError):
    """A text proto file that cannot be read or parsed."""

    def __init__(self, status: str, report: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.report = report


def parser_report(exc: Exception, message: Any) -> str:
    """protobuf's C++ wording for a ParseError: ``Error parsing text-format <type>: L:C: why``."""
    text = str(exc)
    line, column = (
        getattr(exc, "GetLine", lambda: None)(),
        getattr(exc, "GetColumn", lambda: None)(),
    )
    if line is not None:
        prefix = f"{line}:{column} : "
        why = text[len(prefix) :] if text.startswith(prefix) else text
        where = f"{line}:{column}: "
    else:
        why, where = text, ""
    return f"Error parsing text-format {message.DESCRIPTOR.full_name}: {where}{why}"


def parse_text(text: str, message: Any, path: str | Path = "<text>") -> Any:
    """Parse ``text`` into ``message`` (TextProtoError with the parser's report on failure)."""
    from google.protobuf import text_format

    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise TextProtoError(
            f"INVALID_ARGUMENT: Invalid protobuf file: '{path}'", parser_report(exc, message)
        ) from exc
    return message


def read_text_proto(path: str | Path, message: Any) -> Any:
    """Read and parse the file ``path`` into ``message`` (TF Serving's errors)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError as exc:
        raise TextProtoError(f"NOT_FOUND: {path}; No such file or directory") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TextProtoError(f"INVALID_ARGUMENT: Invalid protobuf file: '{path}'") from exc
    return parse_text(text, message, path)
