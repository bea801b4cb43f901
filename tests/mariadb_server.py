"""A throw-away MariaDB server for tests: its own datadir, loopback, a free port.

Debian's ``mariadb-server`` package provides the binaries (``.ci/run`` installs it); the
tests never touch a system MariaDB. The server is started as the current user (root in CI
needs ``--user=root``) and stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import LOOPBACK, free_port
from tests.support.processes import StartedProcess, start_process
from tests.system_deps import require_binary

USER, PASSWORD, DATABASE = "mlmd", "mlmd-test-password", "mlmd"


@dataclass(frozen=True)
class MariaDB:
    host: str
    port: int
    socket: Path

    def address(self, database: str = DATABASE) -> str:
        return f"{self.host}:{self.port}/{database}"

    def sql(self, statement: str) -> str:
        client = require_binary("mariadb", "mariadb-server")
        return subprocess.run(
            [client, "--no-defaults", "-S", str(self.socket), "-u", "root", "-N", "-e", statement],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout


@contextlib.contextmanager
def running_mariadb(workdir: Path, host: str = LOOPBACK) -> Iterator[MariaDB]:
    """A fresh server with database ``DATABASE`` and user ``USER`` (from any client host),
    listening on ``host`` only."""
    with restartable_mariadb(workdir, host) as server:
        yield server.db


class MariaDBServer:
    """A throw-away server that a test can kill -9 and start again on the same data
    directory, address and port (a database host that crashes and comes back)."""

    def __init__(self, workdir: Path, host: str = LOOPBACK) -> None:
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.db = MariaDB(host, free_port(host), workdir / "mariadb.sock")
        self.process: StartedProcess | None = None
        self._starts = 0

    def install(self) -> None:
        install = require_binary("mariadb-install-db", "mariadb-server")
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.datadir}",
                *_as_user(),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> MariaDB:
        """Start the server and wait until it answers a query."""
        server = require_binary("mariadbd", "mariadb-server")
        db = self.db
        command = [
            server,
            "--no-defaults",
            f"--datadir={self.datadir}",
            *_as_user(),
            f"--socket={db.socket}",
            f"--port={db.port}",
            f"--bind-address={db.host}",
            "--skip-name-resolve",
            f"--pid-file={self.workdir / 'mariadb.pid'}",
            "--innodb-buffer-pool-size=64M",
            "--skip-log-bin",
        ]
        self._starts += 1
        # Without --log-error the server logs to stderr, which goes to the process's log file.
        log = self.workdir / f"mariadb-{self._starts}.log"
        self.process = start_process(command, log, what="MariaDB")
        self.process.wait_ready(
            lambda: db.sql("SELECT 1"), retry_on=(subprocess.CalledProcessError,)
        )
        return db

    def kill(self) -> None:
        """kill -9 the server (no shutdown, as in a crash) and reap it."""
        assert self.process is not None
        self.process.popen.send_signal(signal.SIGKILL)
        self.process.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@contextlib.contextmanager
def restartable_mariadb(workdir: Path, host: str = LOOPBACK) -> Iterator[MariaDBServer]:
    """:class:`MariaDBServer`, installed, started, with database ``DATABASE`` and user
    ``USER`` (from any client host); stopped at the end whatever happened."""
    server = MariaDBServer(workdir, host)
    server.install()
    try:
        server.start().sql(
            f"CREATE DATABASE {DATABASE}; "
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; "
            f"GRANT ALL ON *.* TO '{USER}'@'%';"
        )
        yield server
    finally:
        server.stop()


def _as_user() -> list[str]:
    return ["--user=root"] if os.geteuid() == 0 else []  # root in CI needs --user=root
