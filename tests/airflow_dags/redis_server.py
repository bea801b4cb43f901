"""A throw-away Redis for Celery's broker: Debian's ``redis-server``, no persistence, one
address, a free port, stopped at the end (``.ci/run`` installs the package)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import LOOPBACK, accepts_connections, free_port
from tests.support.processes import running_process
from tests.system_deps import require_binary


@dataclass(frozen=True)
class Redis:
    host: str
    port: int

    def url(self, database: int = 0) -> str:
        """What ``AIRFLOW__CELERY__BROKER_URL`` takes."""
        return f"redis://{self.host}:{self.port}/{database}"


@contextlib.contextmanager
def running_redis(workdir: Path, host: str = LOOPBACK) -> Iterator[Redis]:
    server = require_binary("redis-server", "redis-server")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port(host)
    command = [
        server,
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "no",
        # Reachable from the test's worker hosts (no password: it listens on the test's own
        # address only).
        "--protected-mode",
        "no",
    ]
    with running_process(command, workdir / "redis.log", what="Redis") as proc:
        proc.wait_ready(lambda: accepts_connections(port, host))
        yield Redis(host, port)
