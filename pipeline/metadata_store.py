"""Where a pipeline keeps its ML Metadata: SQLite under the pipeline root, or MySQL.

SQLite is the embedded default for one machine. On a cluster every task writes ML
Metadata, and one SQLite file on shared storage locks up under several writers
(tfx#199), so production points every runner at MySQL (or MariaDB):

    --metadata-mysql HOST:PORT/DATABASE   (or $CIFAR10_METADATA_MYSQL)
    $CIFAR10_MYSQL_USER, $CIFAR10_MYSQL_PASSWORD   (never on the command line, never logged)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MYSQL_ENV = "CIFAR10_METADATA_MYSQL"
MYSQL_USER_ENV = "CIFAR10_MYSQL_USER"
MYSQL_PASSWORD_ENV = "CIFAR10_MYSQL_PASSWORD"
_ADDRESS = re.compile(
    r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})"
    r"/(?P<database>[A-Za-z0-9_$]{1,64})$"
)


class MetadataStoreError(RuntimeError):
    """ML Metadata cannot be opened (bad address, credentials, or server unreachable)."""


def store_errors() -> tuple[type[Exception], ...]:
    """What a lost store raises (for ``except``; imported only when needed): TFX's
    ``Metadata`` raises RuntimeError when it cannot connect, the store's calls ML
    Metadata's status errors (``InternalError: Lost connection to MySQL server``)."""
    from ml_metadata import errors

    return (RuntimeError, errors.StatusError)


@dataclass(frozen=True)
class MySQLAddress:
    host: str
    port: int
    database: str

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.database}"


def parse_mysql_address(text: str) -> MySQLAddress:
    """``HOST:PORT/DATABASE`` -> address; anything else raises ``ValueError`` saying so."""
    match = _ADDRESS.match(text.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        raise ValueError(
            f"ML Metadata MySQL address {text!r} is not HOST:PORT/DATABASE "
            "(e.g. mysql.example.com:3306/mlmd)"
        )
    return MySQLAddress(match["host"].strip("[]"), int(match["port"]), match["database"])


def connection_config(
    sqlite_path: Path, mysql: MySQLAddress | None, env: Mapping[str, str] = os.environ
) -> Any:
    """TFX's connection config for SQLite at ``sqlite_path`` or, if given, MySQL.

    Building it has no side effect (TFX's own SQLite helper creates the folder): the Airflow
    DAG builds it at parse time, where nothing may be written. :func:`open_store` creates
    the folder when a run opens the store (``pipeline.runner``, the DAG's first task).
    """
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import metadata

    if mysql is None:
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = str(sqlite_path)
        config.sqlite.connection_mode = (
            metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        )
        return config
    user = env.get(MYSQL_USER_ENV)
    if not user:
        raise MetadataStoreError(
            f"ML Metadata on MySQL at {mysql}: set ${MYSQL_USER_ENV} "
            f"(and ${MYSQL_PASSWORD_ENV}) in the environment"
        )
    return metadata.mysql_metadata_connection_config(
        host=mysql.host,
        port=mysql.port,
        database=mysql.database,
        username=user,
        password=env.get(MYSQL_PASSWORD_ENV, ""),
    )


def describe(config: Any) -> str:
    """Where the store is, for messages and logs (never the password)."""
    if config.HasField("mysql"):
        m = config.mysql
        return f"MySQL {m.user}@{m.host}:{m.port}/{m.database}"
    return f"SQLite {config.sqlite.filename_uri}"


def open_store(config: Any) -> None:
    """Make the store usable before any component runs: SQLite's folder created, then the
    store opened once (:func:`check_connection`). Opening it alone also gives a new
    database its ML Metadata schema before components open it side by side."""
    if not config.HasField("mysql") and config.sqlite.filename_uri:
        Path(config.sqlite.filename_uri).parent.mkdir(parents=True, exist_ok=True)
    check_connection(config)


def check_connection(config: Any) -> None:
    """Open the store once, so a wrong password or a down server fails with a clear message
    before any component runs (ML Metadata's own error names neither host nor cause)."""
    import ml_metadata as mlmd

    try:
        mlmd.MetadataStore(config)
    except Exception as e:  # MLMD raises RuntimeError / errors.* with little detail
        detail = str(e).strip() or type(e).__name__
        raise MetadataStoreError(
            f"cannot open ML Metadata ({describe(config)}): {detail}. Check that the server "
            "is running and reachable, the database exists and the user and password "
            f"(${MYSQL_USER_ENV}, ${MYSQL_PASSWORD_ENV}) are right"
        ) from None
