"""The example client prints the server's error in one line and exits 1: no traceback."""

from __future__ import annotations

from models import features
from pipeline import configs
from serving import example_client
from tests.serving.helpers import png, sample_images

CIFAR = {
    "model": configs.MODEL_NAME,
    "signature": features.SIGNATURE_IMAGE_BYTES,
    "input": features.INPUT_IMAGE_BYTES,
    "output": features.OUTPUT_CLASSES,
}


def run(server, *extra: str) -> int:
    argv = ["--grpc", server.grpc_target, "--rest", server.rest_url, *extra]
    return example_client.main(argv, defaults=CIFAR, images=[png(sample_images(1)[0])])


def test_an_unknown_label_is_one_line_of_the_servers_words(tiny_base, start_server, capsys):
    server = start_server(model_base_path=tiny_base(1))
    assert run(server, "--label", "stable") == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "error: gRPC INVALID_ARGUMENT: Unrecognized servable version label: stable"
    )
    assert "Traceback" not in captured.err and "_InactiveRpcError" not in captured.err
    assert run(server) == 0  # the latest version answers
    assert "gRPC and REST agree" in capsys.readouterr().out


def test_an_unreachable_server_is_one_line_too(capsys):
    from tests.support.ports import free_port

    port = free_port()
    argv = ["--grpc", f"127.0.0.1:{port}", "--rest", f"http://127.0.0.1:{port}", "--timeout=2"]
    assert example_client.main(argv, defaults=CIFAR, images=[b"x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: gRPC UNAVAILABLE") and "Traceback" not in err


def test_unusable_tls_files_are_one_line(tmp_path, capsys):
    not_pem = tmp_path / "ca.crt"
    not_pem.write_text("hello")
    argv = ["--grpc", "127.0.0.1:1", "--rest", "http://127.0.0.1:1", "--ca_cert", str(not_pem)]
    assert example_client.main(argv, defaults=CIFAR, images=[b"x"]) == 1
    assert (
        capsys.readouterr().err.strip() == f"error: the CA certificate {not_pem} is not a PEM file"
    )
    argv[-1] = str(tmp_path / "missing.crt")
    assert example_client.main(argv, defaults=CIFAR, images=[b"x"]) == 1
    assert "cannot read the CA certificate" in capsys.readouterr().err
