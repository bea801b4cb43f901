"""Clients no one here wrote: NVIDIA's tritonclient (http, grpc) and KServe's
InferenceRESTClient / InferenceGRPCClient, unchanged, in their own environment
(:mod:`tests.serving.oip.clients_env`), as subprocesses against the test server."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.serving.oip import clients_env
from tests.serving.oip.conftest import MODEL
from tests.system_deps import skip_or_fail

pytestmark = pytest.mark.slow
CLIENTS = clients_env.HERE / "clients"
CLIENT_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def clients_python():
    """Made on demand; a failure skips locally and fails under CI=true."""
    try:
        return clients_env.clients_python()
    except clients_env.ClientsEnvError as exc:
        skip_or_fail(f"the foreign clients' environment could not be made: {exc}")


def _run(python, script: str, *args: str) -> dict:
    done = subprocess.run(
        [str(python), str(CLIENTS / script), *args],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{script} {args} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _hostport(url: str) -> str:
    return url.split("//", 1)[1]


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_tritonclient(clients_python, oip_server, kind):
    url = _hostport(oip_server.rest_url) if kind == "http" else oip_server.grpc_target
    seen = _run(clients_python, "triton_client.py", kind, url, MODEL)
    assert seen["live"] and seen["ready"] and seen["model_ready"] and seen["version_ready"]
    assert seen["inputs"] == ["x"] and "binary_tensor_data" in seen["extensions"]
    for binary in (True, False):
        assert seen[f"labels_binary_{binary}"] == ["positive", "not positive"]
    assert seen["version"] == "1"  # the "stable" label
    assert seen["bytes_echo"] is True
    assert seen["uint8_echo"] == [[0, 128, 255]]
    assert "no-such-model" in seen["unknown_model_error"]


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_kserve_clients(clients_python, oip_server, kind):
    url = oip_server.rest_url if kind == "rest" else oip_server.grpc_target
    seen = _run(clients_python, "kserve_client.py", kind, url, MODEL)
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen.get("unknown_model_ready", False) is False
    for binary in (True, False):
        assert seen[f"labels_binary_{binary}"] == ["positive", "not positive"]
    assert seen["id"] == "k1"
    assert seen["bytes_echo"] == [["cat", "dog"]]
