"""The router and the rollout tooling talk to a TLS model server: gRPC over TLS and mutual
TLS, REST to an ``https://`` upstream, with the CA and client certificate options; bad TLS
options are refused at start with a message. Certificates are made per test run."""

from __future__ import annotations

import ssl

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pipeline import configs
from rollout import cli
from rollout import settings as rollout_settings
from rollout.canary.router import Router
from rollout.client_tls import ClientTls
from rollout.serving_client import version_state
from serving.tls import TlsConfigError
from tests.rollout.canary.conftest import CANARY, STABLE
from tests.rollout.fakes import FakeModelServer
from tests.serving.certs import Authority

BODY = {"instances": [{"images": np.zeros((32, 32, 3), np.uint8).tolist()}]}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, the server's certificate, a client certificate it signed and one it did not."""
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority()
    (folder / "ca.crt").write_bytes(ca.pem.cert)
    server = ca.server()
    files = {"ca": folder / "ca.crt"}
    files["server_cert"], files["server_key"] = server.write(folder, "server")
    files["client_cert"], files["client_key"] = ca.client().write(folder, "client")
    files["stranger_cert"], files["stranger_key"] = (
        Authority("other CA").client().write(folder, "stranger")
    )
    return files


@pytest.fixture
def tls_upstream(pki):
    """A fake model server demanding client certificates signed by the CA, on gRPC and REST."""
    credentials = grpc.ssl_server_credentials(
        [(pki["server_key"].read_bytes(), pki["server_cert"].read_bytes())],
        root_certificates=pki["ca"].read_bytes(),
        require_client_auth=True,
    )
    rest_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki["ca"]))
    rest_ssl.load_cert_chain(pki["server_cert"], pki["server_key"])
    rest_ssl.verify_mode = ssl.CERT_REQUIRED
    server = FakeModelServer(
        {rollout_settings.STABLE_LABEL: STABLE, rollout_settings.CANARY_LABEL: CANARY},
        grpc_credentials=credentials,
        rest_ssl=rest_ssl,
    ).start()
    yield server
    server.stop()


def start_router(upstream, state_path, tls: ClientTls | None) -> Router:
    return Router(
        upstream.rest_url,
        upstream.grpc_target,
        state_path,
        rest_port=0,
        grpc_port=0,
        upstream_tls=tls,
    ).start()


def grpc_predict(router: Router) -> predict_pb2.PredictResponse:
    """A Predict through the router. A refused upstream handshake fails at once; the 30 s
    deadline is for a loaded machine, where a short one could pass first and read as
    DEADLINE_EXCEEDED instead of the UNAVAILABLE the tests expect."""
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(router.grpc_target)
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = configs.MODEL_NAME
    return stub.Predict(request, timeout=30)


def test_the_router_reaches_a_mutual_tls_server_over_grpc_and_https(tls_upstream, state_path, pki):
    tls = ClientTls(str(pki["ca"]), str(pki["client_cert"]), str(pki["client_key"]))
    router = start_router(tls_upstream, state_path, tls)
    try:
        assert grpc_predict(router).model_spec.version.value in (STABLE, CANARY)
        answer = requests.post(
            f"{router.rest_url}/v1/models/{configs.MODEL_NAME}:predict", json=BODY, timeout=10
        )
        assert answer.status_code == 200
        assert answer.headers[rollout_settings.SERVED_LABEL_HEADER] in (
            rollout_settings.STABLE_LABEL,
            rollout_settings.CANARY_LABEL,
        )
    finally:
        router.stop()
    assert sum(tls_upstream.grpc_specs.values()) == 1
    assert sum(tls_upstream.rest_paths.values()) == 1


@pytest.mark.parametrize("who", ["no client certificate", "a certificate of another CA"])
def test_a_client_the_server_does_not_trust_gets_no_answer(tls_upstream, state_path, pki, who):
    if who == "no client certificate":
        tls = ClientTls(str(pki["ca"]))
    else:
        tls = ClientTls(str(pki["ca"]), str(pki["stranger_cert"]), str(pki["stranger_key"]))
    router = start_router(tls_upstream, state_path, tls)
    try:
        with pytest.raises(grpc.RpcError) as failure:
            grpc_predict(router)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        answer = requests.post(
            f"{router.rest_url}/v1/models/{configs.MODEL_NAME}:predict", json=BODY, timeout=10
        )
        assert answer.status_code == 502 and "model server unreachable" in answer.text
    finally:
        router.stop()
    assert not tls_upstream.grpc_specs and not tls_upstream.rest_paths


def test_a_plaintext_router_cannot_reach_a_tls_server(tls_upstream, state_path):
    router = start_router(tls_upstream, state_path, None)
    try:
        with pytest.raises(grpc.RpcError) as failure:
            grpc_predict(router)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        router.stop()


def test_the_rest_helpers_use_the_certificates(tls_upstream, pki):
    tls = ClientTls(str(pki["ca"]), str(pki["client_cert"]), str(pki["client_key"]))
    assert version_state(tls_upstream.rest_url, STABLE, tls=tls) == "AVAILABLE"
    assert version_state(tls_upstream.rest_url, STABLE) is None  # unverified: refused


def test_unusable_tls_options_stop_the_router_at_start(tmp_path, state_path, pki):
    with pytest.raises(TlsConfigError, match="cannot read the CA certificate"):
        Router("http://x:1", "x:2", state_path, upstream_tls=ClientTls(str(tmp_path / "none")))
    with pytest.raises(TlsConfigError, match="both --client-cert and --client-key"):
        ClientTls(str(pki["ca"]), str(pki["client_cert"]))
    not_pem = tmp_path / "ca.crt"
    not_pem.write_text("hello")
    with pytest.raises(TlsConfigError, match="not a PEM file"):
        Router("http://x:1", "x:2", state_path, upstream_tls=ClientTls(str(not_pem)))


def test_the_cli_refuses_half_a_client_certificate(tmp_path, capsys, pki):
    code = cli.main(
        ["--output-root", str(tmp_path), "route", "--client-cert", str(pki["client_cert"])]
    )
    assert code == 2
    assert "both --client-cert and --client-key" in capsys.readouterr().err
