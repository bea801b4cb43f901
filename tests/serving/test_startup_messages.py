"""What the server says at start-up and while it waits: protobuf's own report for a config
that does not parse, the listeners as really bound, base paths with nothing to serve, and
the project's defaults (rollout's models.config, loopback)."""

from __future__ import annotations

import logging
from pathlib import Path

import cifar10_serving
from pipeline import configs
from rollout import settings as rollout_settings
from serving import cli
from serving import defaults as serving_defaults
from serving.model_config import ModelEntry
from serving.model_manager import ModelManager
from serving.version_policy import LATEST, VersionPolicy


def test_a_model_config_that_does_not_parse_reports_line_and_column_first(tmp_path, capsys):
    bad = tmp_path / "models.config"
    bad.write_text('model_config_list {\n  config { name: "m" nme: "x" }\n}\n')
    assert cli.main([f"--model_config_file={bad}"]) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    report = (
        "Error parsing text-format tensorflow.serving.ModelServerConfig: 2:22: Message type "
        '"tensorflow.serving.ModelConfig" has no field named "nme".'
    )
    assert report in err, err
    assert err.index(report) < err.index(f"Invalid protobuf file: '{bad}'")


def test_a_monitoring_config_that_does_not_parse_reports_where_too(tmp_path, capsys):
    bad = tmp_path / "monitoring.config"
    bad.write_text("prometheus_config { enable: maybe }\n")
    code = cli.main([f"--model_base_path={tmp_path}", f"--monitoring_config_file={bad}"])
    assert code == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    assert "Error parsing text-format tensorflow.serving.MonitoringConfig: 1:29:" in err, err
    assert "Invalid protobuf file" in err


def test_the_banner_says_what_is_bound(tiny_base, start_server):
    everywhere = start_server(model_base_path=tiny_base(1), host="0.0.0.0")
    line = cli.banner(everywhere, None)
    assert f"gRPC at 127.0.0.1:{everywhere.grpc_port}, REST at {everywhere.rest_url}" in line
    assert "listening on 0.0.0.0 = all interfaces" in line
    local = start_server(model_base_path=everywhere.model_base_path, grpc_health=True)
    line = cli.banner(local, serving_defaults.PROMETHEUS_PATH)
    assert "listening on 127.0.0.1 = this machine only (--host=0.0.0.0: all interfaces)" in line
    assert "grpc.health.v1 served" in line and "metrics at" in line
    assert f"models {{'{configs.MODEL_NAME}': [1]}}" in line


def manager_for(base: Path) -> ModelManager:
    entry = ModelEntry(configs.MODEL_NAME, base, VersionPolicy(LATEST, num_versions=1), {})
    manager = ModelManager({entry.name: entry})
    manager.missing_report_seconds = 0.0  # every poll, for the test
    return manager


def test_a_base_path_without_versions_is_reported_again_and_again(tmp_path, caplog):
    manager = manager_for(tmp_path)
    with caplog.at_level(logging.WARNING, logger="serving.manager"):
        for _ in range(3):
            manager.reconcile()
    said = [r.getMessage() for r in caplog.records if "No versions of servable" in r.getMessage()]
    assert len(said) == 3 and str(tmp_path) in said[0]
    assert "name your leaf directory as a number" in said[0]
    manager.shutdown()


def test_a_base_path_that_does_not_exist_is_said_so(tmp_path, caplog):
    missing = tmp_path / "nowhere"
    manager = manager_for(missing)
    manager.missing_report_seconds = 3600.0  # once per interval, not every poll
    with caplog.at_level(logging.WARNING, logger="serving.manager"):
        manager.reconcile()
        manager.reconcile()
    said = [r.getMessage() for r in caplog.records if "does not exist" in r.getMessage()]
    assert len(said) == 1 and str(missing) in said[0]
    manager.shutdown()


def test_project_defaults_serve_rollouts_models_config_on_loopback(tmp_path):
    plain = cifar10_serving.server_defaults(str(tmp_path))
    assert plain["host"] == serving_defaults.LOOPBACK and "model_config_file" not in plain
    config = rollout_settings.model_config_path(tmp_path)
    config.parent.mkdir(parents=True)
    config.write_text("model_config_list {}\n")
    args = cli.build_parser(cifar10_serving.server_defaults(str(tmp_path))).parse_args([])
    assert args.model_config_file == str(config.resolve())
    assert args.model_config_file_poll_wait_seconds > 0
    assert args.host == serving_defaults.LOOPBACK
    assert cli.build_parser(plain).parse_args(["--host=0.0.0.0"]).host == "0.0.0.0"
    # Asking for the single-model form explicitly wins over the config file.
    single = cifar10_serving.server_defaults(str(tmp_path), ["--model_base_path=/x"])
    assert "model_config_file" not in single
