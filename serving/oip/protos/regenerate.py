"""Regenerate ``open_inference_pb2.py`` / ``open_inference_pb2_grpc.py`` from the .proto.

The generated modules are checked in: the server's environment pins protobuf 3.20.3 and
grpcio 1.65.5 (TFX 1.16), and grpcio-tools 1.48.2 is the newest release whose output
that protobuf can import, but it cannot be installed beside the pins. So generate in a
throw-away environment::

    uv venv /tmp/oip-tools && uv pip install --python /tmp/oip-tools/bin/python \\
        grpcio-tools==1.48.2 protobuf==3.20.3
    /tmp/oip-tools/bin/python -m serving.oip.protos.regenerate   # from the repo root

It also writes ``open_inference.proto.sha256``; a test compares it with the .proto, so an
edit of the .proto without regenerating fails CI.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = HERE / "open_inference.proto"
STAMP = HERE / "open_inference.proto.sha256"
REPO_ROOT = HERE.parents[2]


def proto_digest() -> str:
    """SHA-256 of the .proto the checked-in modules must have been generated from."""
    return hashlib.sha256(PROTO.read_bytes()).hexdigest()


def main() -> int:
    try:
        from grpc_tools import protoc
    except ImportError:
        print("grpcio-tools is not installed here; see this module's docstring", file=sys.stderr)
        return 2
    rel = PROTO.relative_to(REPO_ROOT)
    rc = protoc.main(
        [
            "protoc",
            f"-I{REPO_ROOT}",
            f"--python_out={REPO_ROOT}",
            f"--grpc_python_out={REPO_ROOT}",
            str(rel),
        ]
    )
    if rc != 0:
        print(f"protoc failed with exit code {rc}", file=sys.stderr)
        return 1
    STAMP.write_text(proto_digest() + "\n")
    print(f"regenerated from {rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
