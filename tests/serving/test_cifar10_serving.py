"""The project's wrappers around the standalone server and client (cifar10_serving.py)."""

from __future__ import annotations

import pytest

import cifar10_serving
from ingest import settings as ingest_settings
from models import features
from pipeline import configs
from serving import cli
from serving import defaults as serving_defaults


def test_server_defaults_are_the_projects_and_flags_win(tmp_path):
    defaults = cifar10_serving.server_defaults(str(tmp_path))
    args = cli.build_parser(defaults).parse_args([])
    assert args.model_name == configs.MODEL_NAME
    assert args.model_base_path == str(
        configs.serving_root(tmp_path).resolve() / configs.MODEL_NAME
    )
    assert (args.port, args.rest_api_port) == (
        serving_defaults.GRPC_PORT,
        serving_defaults.REST_PORT,
    )
    assert cifar10_serving.MONITORING_CONFIG.is_file()
    assert cli.build_parser(defaults).parse_args(["--rest_api_port=0"]).rest_api_port == 0


@pytest.mark.slow  # needs the pipeline-made model (shared session fixture)
def test_client_sends_real_test_images(pipeline_server, capsys):
    code = cifar10_serving.client_main(
        [
            "--count",
            "3",
            "--data-root",
            str(ingest_settings.SHARED_DATA_ROOT),
            "--grpc",
            pipeline_server.grpc_target,
            "--rest",
            pipeline_server.rest_url,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 3
    assert all(r[1] in features.LABEL_NAMES and r[2] == r[3] for r in rows), rows


def test_client_without_data_says_where_to_point_it(tmp_path, capsys):
    code = cifar10_serving.client_main(["--data-root", str(tmp_path / "absent")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
