"""The pipeline's ML Metadata on a real MariaDB server: runs, cache hits, separate
baselines per pipeline, and clear errors (slow: real pipeline runs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ingest import settings as ingest_settings
from pipeline import configs, metadata_store, summary
from pipeline.metadata_store import parse_mysql_address
from tests.conftest import run_pipeline
from tests.mariadb_server import DATABASE, PASSWORD, USER, running_mariadb

SMALL = ["--limit", "300", "--epochs", "1", "--accuracy-lower-bound", "0"]


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    with running_mariadb(tmp_path_factory.mktemp("mariadb")) as db:
        yield db


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv(metadata_store.MYSQL_USER_ENV, USER)
    monkeypatch.setenv(metadata_store.MYSQL_PASSWORD_ENV, PASSWORD)


def mysql_config(db):
    return metadata_store.connection_config(
        configs.metadata_path("/unused"),
        parse_mysql_address(db.address()),
        {metadata_store.MYSQL_USER_ENV: USER, metadata_store.MYSQL_PASSWORD_ENV: PASSWORD},
    )


@pytest.mark.slow
def test_runs_cache_and_baselines_live_in_mysql(mariadb, credentials, tmp_path, capsys):
    out = tmp_path / "out"
    first = run_pipeline(out, *SMALL, "--metadata-mysql", mariadb.address(), capsys=capsys)
    assert first.exit_code == 0, first.stdout
    assert len(first.versions()) == 1
    assert not configs.metadata_path(out).exists(), "no SQLite store when MySQL is set"
    tables = mariadb.sql(f"SELECT COUNT(*) FROM {DATABASE}.Execution").split()
    assert int(tables[0]) >= 9, "every component's execution is recorded in MySQL"

    again = run_pipeline(out, *SMALL, "--metadata-mysql", mariadb.address(), capsys=capsys)
    assert again.exit_code == 0
    result = summary.read_run_from(mysql_config(mariadb), pipeline_name=configs.PIPELINE_NAME)
    states = {n: s for n, s in result.components.items() if n != "latest_blessed_model_resolver"}
    assert set(states.values()) == {"CACHED"}, states

    # A second pipeline in the same store must not take the first one's model as baseline.
    other = run_pipeline(
        tmp_path / "other",
        *SMALL,
        "--pipeline-name",
        "cifar10-other",
        "--metadata-mysql",
        mariadb.address(),
        capsys=capsys,
    )
    assert other.exit_code == 0
    mine = summary.read_run_from(mysql_config(mariadb), pipeline_name="cifar10-other")
    assert mine.components["Trainer"] == "COMPLETE"
    assert mine.baseline_accuracy is None, "baseline leaked across pipelines"
    assert len(summary.list_runs(mysql_config(mariadb), "cifar10-other")) == 1
    assert len(summary.list_runs(mysql_config(mariadb), configs.PIPELINE_NAME)) == 2


@pytest.mark.slow
def test_wrong_password_fails_clearly_naming_the_host(mariadb, tmp_path, monkeypatch):
    env = {
        metadata_store.MYSQL_USER_ENV: USER,
        metadata_store.MYSQL_PASSWORD_ENV: "Not-The-Pa55word",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "beam_runner.py",
            "--data-root",
            str(ingest_settings.SHARED_DATA_ROOT),
            "--output-root",
            str(tmp_path / "out"),
            *SMALL,
            "--metadata-mysql",
            mariadb.address(),
        ],
        cwd=configs.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, **env},
    )
    assert proc.returncode == 1
    assert f"127.0.0.1:{mariadb.port}/{DATABASE}" in proc.stderr
    assert "cannot open ML Metadata" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Not-The-Pa55word" not in proc.stderr + proc.stdout, "password leaked"
    assert not (tmp_path / "out" / "serving").exists(), "nothing pushed"


def test_unreachable_server_and_missing_credentials_are_clear_errors(tmp_path):
    unreachable = metadata_store.connection_config(
        tmp_path / "x",
        parse_mysql_address("127.0.0.1:1/mlmd"),
        {metadata_store.MYSQL_USER_ENV: "u", metadata_store.MYSQL_PASSWORD_ENV: "p"},
    )
    with pytest.raises(metadata_store.MetadataStoreError, match=r"127\.0\.0\.1:1/mlmd"):
        metadata_store.check_connection(unreachable)
    with pytest.raises(metadata_store.MetadataStoreError, match="CIFAR10_MYSQL_USER"):
        metadata_store.connection_config(tmp_path / "x", parse_mysql_address("h:3306/d"), {})


@pytest.mark.parametrize("text", ["localhost", "h:99999/db", "h:3306", "h:3306/bad name"])
def test_bad_addresses_are_refused(text):
    with pytest.raises(ValueError, match="HOST:PORT/DATABASE"):
        parse_mysql_address(text)
