"""Fixtures for the Open Inference Protocol tests: one server (started once per session)
serving the every-datatype model as versions 1 and 2, labelled ``stable`` and ``canary``."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving import defaults as serving_defaults
from tests.serving.oip.dtype_models import build_dtype_model

MODEL = "dtypes"


@pytest.fixture(scope="session")
def dtype_serving_root(tmp_path_factory) -> Path:
    from serving import model_config
    from serving.model_config import ModelEntry
    from serving.version_policy import SPECIFIC, VersionPolicy

    root = tmp_path_factory.mktemp("oip-serving")
    model_dir = build_dtype_model(root / "build" / "model")
    base = root / MODEL
    base.mkdir()
    for version in (1, 2):
        (base / str(version)).symlink_to(model_dir, target_is_directory=True)
    entry = ModelEntry(
        MODEL,
        base,
        VersionPolicy(SPECIFIC, versions=frozenset({1, 2})),
        {"stable": 1, "canary": 2},
    )
    (root / serving_defaults.MODEL_CONFIG_FILENAME).write_text(
        model_config.to_text({entry.name: entry})
    )
    return root


@pytest.fixture(scope="session")
def oip_server(dtype_serving_root):
    """The server on its REST and gRPC ports (both protocols on each)."""
    from serving.server import ModelServer

    server = ModelServer(
        model_config_file=dtype_serving_root / serving_defaults.MODEL_CONFIG_FILENAME,
        grpc_port=0,
        rest_port=0,
        max_request_bytes=4 * 1024 * 1024,
        startup_timeout=120,
    ).start()
    yield server
    server.stop(grace=1)


@pytest.fixture(scope="session")
def rest_url(oip_server) -> str:
    return oip_server.rest_url


@pytest.fixture(scope="session")
def grpc_stub(oip_server):
    import grpc

    from serving.oip.protos import open_inference_pb2_grpc

    channel = grpc.insecure_channel(oip_server.grpc_target)
    yield open_inference_pb2_grpc.GRPCInferenceServiceStub(channel)
    channel.close()
