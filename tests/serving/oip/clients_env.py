"""The foreign clients' environment: tritonclient and kserve in ``.venv-clients``.

They need protobuf >= 4 / grpcio >= 1.67, which cannot share TFX 1.16's environment, so
they live in their own venv, installed from the lock beside this file
(``clients-constraints.txt``, compiled by ``uv pip compile --python-version 3.11
clients-requirements.in -o clients-constraints.txt``), and the tests run them as
subprocesses. The venv is (re)made on demand when it is missing or was made from another
lock; ``python -m tests.serving.oip.clients_env`` makes it by hand.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCK = HERE / "clients-constraints.txt"
REPO_ROOT = HERE.parents[2]
VENV = REPO_ROOT / ".venv-clients"
PYTHON_VERSION = "3.11"  # the lock's target (its numpy needs >= 3.11)
_STAMP = VENV / "lock.sha256"
INSTALL_TIMEOUT_S = 900


class ClientsEnvError(RuntimeError):
    """The environment could not be made; the message says which step failed and why."""


def _uv() -> str:
    found = shutil.which("uv") or next(
        (str(p) for p in (Path.home() / ".local/bin/uv",) if p.is_file()), None
    )
    if found is None:
        raise ClientsEnvError("uv not found (scripts/bootstrap.sh installs it)")
    return found


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ClientsEnvError(f"{' '.join(command)} took over {INSTALL_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise ClientsEnvError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )


def clients_python() -> Path:
    """The environment's Python, made first if needed (raises ClientsEnvError)."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    if python.exists() and _STAMP.exists() and _STAMP.read_text().strip() == digest:
        return python
    uv = _uv()
    _run([uv, "venv", "--clear", "--python", PYTHON_VERSION, str(VENV)])
    _run([uv, "pip", "install", "--python", str(python), "-r", str(LOCK)])
    _STAMP.write_text(digest + "\n")
    return python


if __name__ == "__main__":
    try:
        print(clients_python())
    except ClientsEnvError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from exc
