"""A throw-away MariaDB server for tests: its own datadir, loopback, a free port.

Debian's ``mariadb-server`` package provides the binaries (``.ci/run`` installs it); the
tests never touch a system MariaDB. The server is started as the current user (root in CI
needs ``--user=root``) and stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import LOOPBACK, free_port
from tests.support.processes import running_process
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
    server = require_binary("mariadbd", "mariadb-server")
    install = require_binary("mariadb-install-db", "mariadb-server")
    datadir, sock, port = workdir / "data", workdir / "mariadb.sock", free_port(host)
    as_user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={datadir}",
            *as_user,
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    command = [
        server,
        "--no-defaults",
        f"--datadir={datadir}",
        *as_user,
        f"--socket={sock}",
        f"--port={port}",
        f"--bind-address={host}",
        "--skip-name-resolve",
        f"--pid-file={workdir / 'mariadb.pid'}",
        "--innodb-buffer-pool-size=64M",
        "--skip-log-bin",
    ]
    # Without --log-error the server logs to stderr, which goes to the process's log file.
    with running_process(command, workdir / "mariadb.log", what="MariaDB") as proc:
        db = MariaDB(host, port, sock)
        proc.wait_ready(lambda: db.sql("SELECT 1"), retry_on=(subprocess.CalledProcessError,))
        db.sql(
            f"CREATE DATABASE {DATABASE}; "
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; "
            f"GRANT ALL ON *.* TO '{USER}'@'%';"
        )
        yield db
