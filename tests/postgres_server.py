"""A throw-away PostgreSQL server for tests: its own data dir, loopback, a free port.

Debian's ``postgresql`` package provides the binaries (``.ci/run`` installs it); the tests
never touch a system PostgreSQL. PostgreSQL refuses to run as root, so under root (CI) the
server runs as the ``postgres`` system user the package creates, with a data dir it owns in
the system temp dir (pytest's ``tmp_path`` sits under a root-only 0700 folder the server
could not enter). Clients connect over TCP on 127.0.0.1 with a password, as Airflow does in
production. The server is stopped (fast shutdown) and its files removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.ports import LOOPBACK, free_port
from tests.support.processes import running_process
from tests.system_deps import require_binary

USER, PASSWORD, DATABASE = "airflow", "airflow-test-password", "airflow"
SERVER_USER = "postgres"  # created by Debian's postgresql package


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int

    def sqlalchemy_url(self, database: str = DATABASE) -> str:
        """What ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` takes."""
        return f"postgresql+psycopg2://{USER}:{PASSWORD}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = DATABASE) -> Any:
        """A psycopg2 connection in autocommit mode (each query sees the latest commits)."""
        import psycopg2

        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname=database,
            connect_timeout=5,
        )
        conn.autocommit = True
        return conn

    def query(self, statement: str, params: tuple = (), database: str = DATABASE) -> list[tuple]:
        with contextlib.closing(self.connect(database)) as conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []


def _run_as(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that drop root to ``user`` (no-op when not root)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def running_postgres(workdir: Path, host: str = LOOPBACK) -> Iterator[Postgres]:
    """A fresh cluster with database ``DATABASE`` owned by ``USER``; logs go to ``workdir``.

    ``host``: the one address it listens on; another than loopback (a test's own network,
    e.g. workers in network namespaces) also lets password logins in from any client."""
    import psycopg2

    initdb = require_binary("initdb", "postgresql")
    server = require_binary("postgres", "postgresql")
    workdir.mkdir(parents=True, exist_ok=True)
    as_user = SERVER_USER if os.geteuid() == 0 else None
    if as_user is not None:
        try:
            pwd.getpwnam(as_user)
        except KeyError:
            raise RuntimeError(
                f"running as root: PostgreSQL needs the '{as_user}' system "
                "user (install the Debian package 'postgresql')"
            ) from None
    home = Path(tempfile.mkdtemp(prefix="pg-test-"))
    try:
        if as_user is not None:
            shutil.chown(home, as_user, as_user)
        datadir, password_file = home / "data", home / "password"
        password_file.write_text(PASSWORD + "\n")
        if as_user is not None:
            shutil.chown(password_file, as_user, as_user)
        init = subprocess.run(
            [
                initdb,
                "-D",
                str(datadir),
                "-U",
                USER,
                f"--pwfile={password_file}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=home,
            **_run_as(as_user),
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stdout[-1500:]}{init.stderr[-1500:]}")
        if host != LOOPBACK:
            with open(datadir / "pg_hba.conf", "a") as hba:
                hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
        port = free_port(host)
        command = [
            server,
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-k",
            str(home),
            "-c",
            f"listen_addresses={host}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        with running_process(
            command,
            workdir / "postgres.log",
            what="PostgreSQL",
            stop_signal=signal.SIGINT,  # fast shutdown: abort sessions, then exit
            cwd=home,
            **_run_as(as_user),
        ) as proc:
            db = Postgres(host, port)
            proc.wait_ready(
                lambda: db.query("SELECT 1", database="postgres") or True,
                retry_on=(psycopg2.OperationalError,),
            )
            db.query(f"CREATE DATABASE {DATABASE} OWNER {USER}", database="postgres")
            yield db
    finally:
        shutil.rmtree(home, ignore_errors=True)
