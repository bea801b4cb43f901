"""The DAG's settings and its input-span task, without Airflow (quick)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from airflow_dags import cifar10_airflow_settings as settings
from ingest import cifar10
from ingest import settings as ingest_settings
from models.hparams import HParams
from pipeline import configs, metadata_store
from tests import mariadb_server
from tests.cifar_fixtures import write_cifar_layout
from tests.mariadb_server import running_mariadb
from tests.support.ports import free_port


def test_defaults_are_beam_runners_defaults():
    config = settings.pipeline_config({})
    assert config.hparams == HParams()
    assert config.limit is None and config.span is None
    assert config.beam_pipeline_args == configs.beam_pipeline_args()


def test_pipeline_and_beam_args_from_the_environment():
    config = settings.pipeline_config(
        {
            settings.PIPELINE_ARGS_ENV: "--limit 300 --epochs 1 --accuracy-lower-bound 0",
            settings.BEAM_ARGS_ENV: "--runner=FlinkRunner --flink_master=flink:8081",
        }
    )
    assert (config.limit, config.hparams.epochs, config.accuracy_lower_bound) == (300, 1, 0.0)
    assert config.beam_pipeline_args == configs.beam_pipeline_args(
        extra=["--runner=FlinkRunner", "--flink_master=flink:8081"]
    )
    assert not any(a.startswith("--direct_") for a in config.beam_pipeline_args)


def test_beam_args_join_those_already_after_the_separator():
    config = settings.pipeline_config(
        {settings.PIPELINE_ARGS_ENV: "--epochs 2 -- --a=1", settings.BEAM_ARGS_ENV: "--b=2"}
    )
    assert config.beam_pipeline_args[-2:] == ["--a=1", "--b=2"]


def test_bad_settings_raise_instead_of_exiting():
    """argparse calls sys.exit; a DAG processor must see an import error, not die."""
    with pytest.raises(settings.SettingsError, match=settings.PIPELINE_ARGS_ENV):
        settings.pipeline_config({settings.PIPELINE_ARGS_ENV: "--epochs many"})
    with pytest.raises(settings.SettingsError, match="hyperparameters out of range"):
        settings.pipeline_config({settings.PIPELINE_ARGS_ENV: "--epochs 0"})
    with pytest.raises(settings.SettingsError, match=settings.RETRIES_ENV):
        settings.dag_config({settings.RETRIES_ENV: "two"})


def test_dag_config():
    config = settings.dag_config({settings.RETRIES_ENV: "0"})
    assert config["schedule"] == settings.AIRFLOW_SCHEDULE
    assert config["catchup"] is False
    assert config["max_active_runs"] == config["max_active_tasks"] == 1
    assert config["default_args"]["retries"] == 0
    assert settings.dag_config({})["default_args"]["retries"] == settings.DEFAULT_RETRIES


def test_sqlite_metadata_runs_one_task_at_a_time():
    config = settings.pipeline_config({})
    assert config.metadata_mysql is None
    assert settings.dag_config({})["max_active_tasks"] == 1


def test_mysql_metadata_from_the_environment_allows_parallel_tasks(monkeypatch):
    monkeypatch.delenv(settings.METADATA_MYSQL_ENV, raising=False)
    env = {settings.METADATA_MYSQL_ENV: "mlmd.db.svc:3306/mlmd"}
    assert str(settings.pipeline_config(env).metadata_mysql) == "mlmd.db.svc:3306/mlmd"
    assert settings.dag_config(env)["max_active_tasks"] == settings.PARALLEL_MAX_ACTIVE_TASKS > 1
    flag = {settings.PIPELINE_ARGS_ENV: "--metadata-mysql other:3307/m2", **env}
    assert str(settings.pipeline_config(flag).metadata_mysql) == "other:3307/m2", "flag wins"


def test_env_mapping_is_the_only_source_of_the_mysql_address(monkeypatch):
    """The CLI parser's default reads os.environ; the DAG settings read the mapping given."""
    monkeypatch.setenv(settings.METADATA_MYSQL_ENV, "leaked:3306/mlmd")
    assert settings.pipeline_config({}).metadata_mysql is None


def test_bad_mysql_address_is_a_settings_error():
    with pytest.raises(settings.SettingsError, match="HOST:PORT/DATABASE"):
        settings.pipeline_config({settings.METADATA_MYSQL_ENV: "mysql://user@host/db"})


def test_retry_delay():
    assert settings.dag_config({})["default_args"]["retry_delay"] == settings.RETRY_DELAY
    assert settings.retry_delay({settings.RETRY_DELAY_ENV: "2"}) == timedelta(seconds=2)
    for bad in ("soon", "-1", "1e9"):
        with pytest.raises(settings.SettingsError, match=settings.RETRY_DELAY_ENV):
            settings.retry_delay({settings.RETRY_DELAY_ENV: bad})


def test_serving_model_dir(tmp_path):
    config = settings.pipeline_config({settings.PIPELINE_ARGS_ENV: f"--output-root {tmp_path}"})
    assert config.serving_model_dir == configs.serving_root(tmp_path) / configs.MODEL_NAME


def test_prepare_input_span_writes_then_reuses(tmp_path, monkeypatch):
    data = write_cifar_layout(tmp_path / "raw", per_batch=4, n_test=6)
    out = tmp_path / "out"
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(data))
    monkeypatch.setenv(settings.PIPELINE_ARGS_ENV, f"--output-root {out}")
    first = settings.prepare_input_span()
    assert first["span"] == 1 and not first["reused"]
    assert first["counts"] == {"train": 18, "eval": 2, "test": 6}
    assert Path(first["path"]) == configs.examples_root(out) / "span-1"
    assert configs.metadata_path(out).parent.is_dir(), "the DAG leaves this to the first task"
    assert settings.prepare_input_span()["reused"]


def test_prepare_input_span_opens_the_mysql_store_first(tmp_path, monkeypatch):
    """With MySQL, the first task creates ML Metadata's schema (before two components open
    the store at once) and no SQLite folder."""
    data = write_cifar_layout(tmp_path / "raw", per_batch=4, n_test=6)
    out = tmp_path / "out"
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(data))
    monkeypatch.setenv(settings.PIPELINE_ARGS_ENV, f"--output-root {out}")
    with running_mariadb(tmp_path / "mariadb") as db:
        monkeypatch.setenv(settings.METADATA_MYSQL_ENV, db.address())
        monkeypatch.setenv(metadata_store.MYSQL_USER_ENV, mariadb_server.USER)
        monkeypatch.setenv(metadata_store.MYSQL_PASSWORD_ENV, mariadb_server.PASSWORD)
        assert "Execution" not in db.sql(f"SHOW TABLES IN {mariadb_server.DATABASE}").split()
        assert settings.prepare_input_span()["span"] == 1
        assert "Execution" in db.sql(f"SHOW TABLES IN {mariadb_server.DATABASE}").split()
    assert not configs.metadata_path(out).parent.exists()


def test_prepare_input_span_fails_on_an_unreachable_mysql_store(tmp_path, monkeypatch):
    data = write_cifar_layout(tmp_path / "raw", per_batch=4, n_test=6)
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(data))
    monkeypatch.setenv(settings.PIPELINE_ARGS_ENV, f"--output-root {tmp_path / 'out'}")
    monkeypatch.setenv(settings.METADATA_MYSQL_ENV, f"127.0.0.1:{free_port()}/mlmd")
    monkeypatch.setenv(metadata_store.MYSQL_USER_ENV, "mlmd")
    with pytest.raises(metadata_store.MetadataStoreError, match="127.0.0.1"):
        settings.prepare_input_span()


def test_prepare_input_span_fails_on_missing_data(tmp_path, monkeypatch):
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(tmp_path / "absent"))
    monkeypatch.setenv(settings.PIPELINE_ARGS_ENV, f"--output-root {tmp_path / 'out'}")
    with pytest.raises(cifar10.CifarDataError, match="does not exist"):
        settings.prepare_input_span()
    assert not (tmp_path / "out").exists(), "bad data: nothing written"
