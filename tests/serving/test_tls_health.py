"""TLS and mutual TLS on gRPC (``--ssl_config_file``) and ``grpc.health.v1``
(``--enable_grpc_healthcheck_service``): what they serve and what they refuse."""

from __future__ import annotations

import socket

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from pipeline import configs
from serving import cli, tls
from tests.serving.certs import Authority, ssl_config_text
from tests.support.waiting import wait_until

MODEL = configs.MODEL_NAME
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture(scope="module")
def ca():
    return Authority()


@pytest.fixture(scope="module")
def server_pem(ca):
    return ca.server()


def status(channel: grpc.Channel, timeout: float = 30.0) -> str:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = MODEL
    response = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
        request, timeout=timeout
    )
    return get_model_status_pb2.ModelVersionStatus.State.Name(
        response.model_version_status[0].state
    )


def credentials(tmp_path, ca_pem, client=None):
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca_pem.cert)
    cert = key = None
    if client is not None:
        cert, key = client.write(tmp_path, "client")
    return tls.channel_credentials(ca_file, cert, key)


def refused(channel: grpc.Channel) -> grpc.StatusCode:
    """The code a refused call fails with. A refused handshake fails at once; the deadline
    is for a loaded machine, where 5 s could pass first and read as DEADLINE_EXCEEDED."""
    with pytest.raises(grpc.RpcError) as info:
        status(channel, timeout=30)
    return info.value.code()


def test_tls_serves_tls_only(tiny_base, start_server, ca, server_pem, tmp_path):
    settings = tls.parse_ssl_config(ssl_config_text(server_pem))
    server = start_server(model_base_path=tiny_base(1), ssl=settings)
    with tls.secure_channel(server.grpc_target, credentials(tmp_path, ca.pem)) as channel:
        assert status(channel) == "AVAILABLE"
    with grpc.insecure_channel(server.grpc_target) as plain:
        assert refused(plain) == grpc.StatusCode.UNAVAILABLE
    other = Authority("someone else")  # a server certificate the client does not trust
    with tls.secure_channel(server.grpc_target, credentials(tmp_path, other.pem)) as channel:
        assert refused(channel) == grpc.StatusCode.UNAVAILABLE
    # Plaintext garbage on the TLS port is dropped; the server keeps serving.
    host, port = server.grpc_target.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"POST /v1/models/cifar10:predict HTTP/1.1\r\n\r\n" + b"\x00" * 1024)
        raw.settimeout(5)
        try:
            while raw.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
    with tls.secure_channel(server.grpc_target, credentials(tmp_path, ca.pem)) as channel:
        assert status(channel) == "AVAILABLE"


def test_mutual_tls_needs_a_client_certificate_signed_by_custom_ca(
    tiny_base, start_server, ca, server_pem, tmp_path
):
    settings = tls.parse_ssl_config(ssl_config_text(server_pem, ca.pem, client_verify=True))
    server = start_server(model_base_path=tiny_base(1), ssl=settings)
    good = credentials(tmp_path, ca.pem, ca.client())
    with tls.secure_channel(server.grpc_target, good) as channel:
        assert status(channel) == "AVAILABLE"
    with tls.secure_channel(server.grpc_target, credentials(tmp_path, ca.pem)) as channel:
        assert refused(channel) == grpc.StatusCode.UNAVAILABLE  # no client certificate
    stranger = Authority("not the custom_ca").client()
    with tls.secure_channel(server.grpc_target, credentials(tmp_path, ca.pem, stranger)) as channel:
        assert refused(channel) == grpc.StatusCode.UNAVAILABLE


def test_unusable_key_or_certificate_stops_start_up(tmp_path, tiny_base, ca, server_pem, capsys):
    base = tiny_base(1)
    other_key = ca.server().key  # a valid key, but not the certificate's
    cases = {
        "mismatch": (
            ssl_config_text(server_pem).replace(
                server_pem.key.decode().replace("\n", "\\n"),
                other_key.decode().replace("\n", "\\n"),
            ),
            "server_key does not match",
        ),
        "not pem": ('server_key: "nope"\nserver_cert: "nope"\n', "not a usable"),
        "verify without ca": (ssl_config_text(server_pem, client_verify=True), "needs custom_ca"),
    }
    for name, (text, message) in cases.items():
        config = tmp_path / f"{name.replace(' ', '_')}.pbtxt"
        config.write_text(text)
        code = cli.main([f"--model_base_path={base}", "--port=1", f"--ssl_config_file={config}"])
        err = capsys.readouterr().err
        assert code == cli.EXIT_FAILURE, name
        assert "Failed to start server. Error: INVALID_ARGUMENT" in err and message in err, err


def test_an_ssl_config_that_does_not_parse_says_where(tmp_path, capsys):
    config = tmp_path / "ssl.pbtxt"
    config.write_text('server_key: "k"\nserver_certificate: "c"\n')
    assert cli.main(["--model_base_path=/m", f"--ssl_config_file={config}"]) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    report = (
        "Error parsing text-format tensorflow.serving.SSLConfig: 2:1: Message type "
        '"tensorflow.serving.SSLConfig" has no field named "server_certificate".'
    )
    assert report in err
    assert err.index(report) < err.index(f"Invalid protobuf file: '{config}'")


def test_grpc_health_follows_model_availability(tiny_base, start_server):
    server = start_server(model_base_path=tiny_base(1), grpc_health=True)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def check(service: str = "") -> int:
            request = health_pb2.HealthCheckRequest(service=service)
            return stub.Check(request, timeout=30).status

        assert check() == SERVING
        assert check("tensorflow.serving.PredictionService") == SERVING
        assert check("inference.GRPCInferenceService") == SERVING  # the Open Inference Protocol
        with pytest.raises(grpc.RpcError) as info:
            check("no.such.Service")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        from tensorflow_serving.config import model_server_config_pb2

        server.reload_config(model_server_config_pb2.ModelServerConfig())  # no models left
        wait_until(lambda: check() == NOT_SERVING, timeout=20, what="health NOT_SERVING")


def test_health_is_not_served_unless_asked(tiny_base, start_server):
    server = start_server(model_base_path=tiny_base(1))
    with grpc.insecure_channel(server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=30)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_the_unix_socket_speaks_tls_too(tiny_base, start_server, ca, server_pem, tmp_path):
    """TF Serving gives its Unix socket the same credentials as its TCP port."""
    socket_path = tmp_path / "grpc.sock"
    settings = tls.parse_ssl_config(ssl_config_text(server_pem))
    start_server(model_base_path=tiny_base(1), ssl=settings, grpc_socket_path=str(socket_path))
    options = [("grpc.ssl_target_name_override", "localhost")]
    target = f"unix:{socket_path}"
    with tls.secure_channel(target, credentials(tmp_path, ca.pem), options) as channel:
        assert status(channel) == "AVAILABLE"
    with grpc.insecure_channel(target) as plain:
        assert refused(plain) == grpc.StatusCode.UNAVAILABLE
