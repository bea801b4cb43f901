"""The command line: flags like tensorflow_model_server's, clear failures, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import requests

from pipeline import configs
from serving import server as cli


def test_flags_mirror_tensorflow_model_server_and_accept_dashes(tmp_path):
    p = cli.build_parser()
    a = p.parse_args(["--port=9000", "--rest_api_port", "9001", "--model_name=m",
                      f"--model_base_path={tmp_path}", "--enable_batching",
                      "--model_config_file_poll_wait_seconds=3",
                      "--allow_version_labels_for_unavailable_models=true"])
    b = p.parse_args(["--port", "9000", "--rest-api-port", "9001", "--model-name", "m",
                      "--model-base-path", str(tmp_path), "--enable-batching=true",
                      "--model-config-file-poll-wait-seconds", "3",
                      "--allow-version-labels-for-unavailable-models"])
    assert vars(a) == vars(b)
    assert a.port == 9000 and a.rest_api_port == 9001 and a.enable_batching is True
    d = p.parse_args([])
    assert (d.port, d.rest_api_port, d.host, d.model_name) == (
        configs.GRPC_PORT, configs.REST_PORT, configs.SERVING_HOST, configs.MODEL_NAME)
    assert d.model_config_file_poll_wait_seconds == configs.MODEL_CONFIG_POLL_SECONDS
    assert d.file_system_poll_wait_seconds == configs.FILE_SYSTEM_POLL_SECONDS
    assert d.enable_batching is False and d.request_log is False


def test_missing_base_path_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["--model_base_path", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["--model_config_file", str(tmp_path / "nope.config")]) == 2


def test_port_taken_is_a_clear_error(tiny_base, capsys):
    base = tiny_base(1)
    with socket.socket() as taken:
        taken.bind((configs.SERVING_HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["--model_base_path", str(base), "--port", str(port),
                         "--rest_api_port", "0"]) == 1
        assert "cannot bind gRPC port" in capsys.readouterr().err
        assert cli.main(["--model_base_path", str(base), "--port", "0",
                         "--rest_api_port", str(port)]) == 1
        assert "cannot bind REST port" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_python_m_serving_starts_answers_and_stops_on_sigterm(tiny_base):
    base = tiny_base(1)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving", "--model_base_path", str(base), "--port", "0",
         "--rest_api_port", "0", "--file_system_poll_wait_seconds", "0"],
        cwd=configs.REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    try:
        line = proc.stdout.readline()
        assert "REST at http://" in line, line
        rest = line.split("REST at ")[1].split()[0]
        r = requests.get(f"{rest}/v1/models/{configs.MODEL_NAME}", timeout=30)
        assert r.json()["model_version_status"][0]["state"] == "AVAILABLE"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "shutting down" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
