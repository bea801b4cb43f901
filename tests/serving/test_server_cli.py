"""The command line: flags like tensorflow_model_server's, clear failures, clean shutdown."""

from __future__ import annotations

import os
import re
import socket
import sys

import pytest
import requests

from pipeline import configs
from serving import cli
from tests.support.ports import free_port
from tests.support.processes import running_process


def test_every_tensorflow_model_server_flag_with_its_default(tmp_path):
    from serving.flags import FLAGS

    assert len(FLAGS) == 46  # tensorflow_model_server 2.16.1, main.cc
    d = cli.build_parser().parse_args([])
    assert (d.port, d.rest_api_port, d.model_name, d.model_base_path) == (8500, 0, "default", "")
    assert d.enable_model_warmup is True and d.file_system_poll_wait_seconds == 1
    assert d.model_config_file_poll_wait_seconds == 0 and d.rest_api_timeout_in_ms == 30000
    assert d.max_num_load_retries == 5 and d.load_retry_interval_micros == 60_000_000
    a = cli.build_parser().parse_args(
        [
            "--rest_api_timeout_in_ms=5000",
            "--grpc_socket_path=/tmp/tf-serving.sock",
            "--grpc_channel_arguments=grpc.so_reuseaddr=1",
            "--enable_batching",
            "--tensorflow_intra_op_parallelism=1",
            "--flush_filesystem_caches=false",
        ]
    )
    assert a.rest_api_timeout_in_ms == 5000 and a.grpc_socket_path == "/tmp/tf-serving.sock"
    assert cli._channel_arguments(a.grpc_channel_arguments) == [("grpc.so_reuseaddr", 1)]


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "Both server_options.model_base_path and server_options.model_config_file are empty!"),
        (["--model_base_path=/m", "--port=0"], "At least one of server_options.grpc_port"),
        (
            ["--model_base_path=/m", "--batching_parameters_file=/b"],
            "batching_parameters_file is set without setting server_options.enable_batching",
        ),
        # --ssl_config_file and --prefer_tflite_model are served now (test_tls_health.py,
        # test_tflite.py); a missing SSL config fails like TF Serving's missing file.
        (["--model_base_path=/m", "--ssl_config_file=/ssl"], "NOT_FOUND: /ssl"),
        (["--model_base_path=/m", "--use_alts_credentials"], "--use_alts_credentials"),
        (["--model_config_file=/no/such.config"], "NOT_FOUND"),
    ],
)
def test_config_errors_fail_like_tf_serving(argv, message, capsys):
    assert cli.main(argv) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.startswith("Failed to start server. Error: ") and message in err


def test_bad_config_files_fail_at_start_up(tmp_path, capsys):
    bad = tmp_path / "models.config"
    bad.write_text("model_config_list { config { name: ")
    assert cli.main([f"--model_config_file={bad}"]) == cli.EXIT_FAILURE
    assert f"Invalid protobuf file: '{bad}'" in capsys.readouterr().err
    bad.write_text(
        'model_config_list { config { name: "m" base_path: "rel" model_platform: "tensorflow" } }'
    )
    assert cli.main([f"--model_config_file={bad}"]) == cli.EXIT_FAILURE
    assert "to have an absolute path" in capsys.readouterr().err
    mon = tmp_path / "monitoring.config"
    mon.write_text("prometheus_config { nope: 1 }")
    assert (
        cli.main([f"--model_base_path={tmp_path}", f"--monitoring_config_file={mon}"])
        == cli.EXIT_FAILURE
    )
    assert "Invalid protobuf file" in capsys.readouterr().err


def test_unknown_flags_are_refused(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--model_base_path=/m", "--no_such_flag=1"])
    assert info.value.code == cli.EXIT_FAILURE
    assert "--no_such_flag" in capsys.readouterr().err


def test_a_model_that_fails_to_load_fails_start_up(tmp_path, capsys):
    base = tmp_path / "m"
    (base / "3").mkdir(parents=True)
    (base / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
    assert (
        cli.main(
            [
                f"--model_base_path={base}",
                "--max_num_load_retries=0",
                "--port=0",
                f"--grpc_socket_path={tmp_path / 's'}",
            ]
        )
        == cli.EXIT_FAILURE
    )
    assert "1 model(s) did not become available" in capsys.readouterr().err


def test_port_taken_is_a_clear_error(tiny_base, capsys):
    base = tiny_base(1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert (
            cli.main(["--model_base_path", str(base), "--host", "127.0.0.1", "--port", str(port)])
            == cli.EXIT_FAILURE
        )
        assert "cannot bind gRPC" in capsys.readouterr().err


def test_grpc_on_a_unix_socket(tiny_base, tmp_path, start_server):
    from tests.serving.helpers import GrpcClient

    sock = tmp_path / "tf-serving.sock"
    server = start_server(
        model_base_path=tiny_base(1), grpc_port=None, grpc_socket_path=str(sock), rest_port=None
    )
    client = GrpcClient(f"unix:{sock}")
    try:
        assert client.status(configs.MODEL_NAME).model_version_status[0].version == 1
    finally:
        client.close()
    assert server.rest_port is None


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_python_m_serving_starts_answers_and_stops_on_sigterm(tiny_base):
    base = tiny_base(1)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "serving",
        "--model_base_path",
        str(base),
        "--port",
        "0",
        f"--grpc_socket_path={base.parent / 'g.sock'}",
        "--model_name",
        configs.MODEL_NAME,
        "--rest_api_port",
        str(free_port()),
        "--file_system_poll_wait_seconds",
        "0",
        "--rest_api_timeout_in_ms=5000",
        "--grpc_channel_arguments=grpc.so_reuseaddr=1",
    ]
    log = base.parent / "server.log"
    with running_process(
        command, log, what="python -m serving", stop_timeout=60, cwd=configs.REPO_ROOT, env=env
    ) as server:
        rest = server.wait_ready(
            lambda: re.search(r"REST at (http://[^\s,;]+)", server.log_text()), timeout=120
        ).group(1)
        r = requests.get(f"{rest}/v1/models/{configs.MODEL_NAME}", timeout=30)
        assert r.json()["model_version_status"][0]["state"] == "AVAILABLE"
        assert server.stop() == 0, server.log_tail()  # SIGTERM: a clean exit
    assert "shutting down" in server.log_text()
