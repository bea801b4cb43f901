"""Conformance fixtures: the TF Serving-shaped test models, served by our server, or by any
TF Serving pointed to with ``SERVING_GRPC_TARGET`` / ``SERVING_REST_URL`` (serve the models
from ``python -m serving.testing.conformance_models DIR`` with ``DIR/models.config``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import grpc
import pytest


@dataclass
class Endpoint:
    grpc_target: str
    rest_url: str


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    target, url = os.environ.get("SERVING_GRPC_TARGET"), os.environ.get("SERVING_REST_URL")
    if target and url:
        yield Endpoint(target, url.rstrip("/"))
        return
    from serving.server import ModelServer
    from serving.testing.conformance_models import build_all

    out = tmp_path_factory.mktemp("conformance")
    build_all(out)
    server = ModelServer(
        model_config_file=out / "models.config",
        grpc_port=0,
        rest_port=0,
        file_system_poll_seconds=0,
        startup_timeout=120,
    ).start()
    yield Endpoint(server.grpc_target, server.rest_url)
    server.stop(grace=1)


@pytest.fixture(scope="session")
def channel(endpoint):
    ch = grpc.insecure_channel(endpoint.grpc_target)
    yield ch
    ch.close()
