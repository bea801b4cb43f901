"""The router in front of the real model server (serving/): Open Inference Protocol infer
without a version reaches the label's version through the server's label-as-version
extension, over REST and gRPC, and is counted per protocol (tiny SavedModels with the
production signatures)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests

from models import features
from models.dataset import CIFAR10
from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.manager import RolloutManager
from rollout.canary.router import Router
from rollout.serving_client import wait_until_available
from serving import defaults as serving_defaults
from serving.oip.protos import open_inference_pb2 as oip_pb
from serving.oip.protos import open_inference_pb2_grpc as oip_grpc
from tests.rollout.conftest import install_version

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def stack(tmp_path, tiny_models):
    from serving.server import ModelServer

    install_version(tmp_path, tiny_models["brightness"], 1)
    install_version(tmp_path, tiny_models["constant"], 2)
    manager = RolloutManager(tmp_path)
    manager.init(1, actor="test")
    manager.start(2, weight=50, actor="test")
    server = ModelServer(
        model_config_file=manager.config_path,
        grpc_port=0,
        rest_port=0,
        model_config_poll_seconds=0.5,
        file_system_poll_seconds=0.5,
        allow_version_labels_for_unavailable_models=True,
    ).start()
    router = Router(
        server.rest_url, server.grpc_target, manager.paths.state, rest_port=0, grpc_port=0
    ).start()
    assert wait_until_available(server.rest_url, 1, timeout=60)
    assert wait_until_available(server.rest_url, 2, timeout=60)
    yield server, router
    router.stop()
    server.stop()


def images(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, *CIFAR10.image_shape), np.uint8)


def test_v2_infer_through_the_router_reaches_the_labelled_versions(stack):
    _, router = stack
    session = requests.Session()
    batch = images(2)
    body = {
        "inputs": [
            {
                "name": features.INPUT_IMAGES,
                "datatype": "UINT8",
                "shape": list(batch.shape),
                "data": batch.ravel().tolist(),
            }
        ],
        "parameters": {"signature_name": features.SIGNATURE_IMAGES},
    }
    served = set()
    for key in ("a", "b", "c", "d", "e", "f", "g", "h"):
        answer = session.post(
            f"{router.rest_url}/v2/models/{configs.MODEL_NAME}/infer",
            json=body,
            headers={rollout_settings.CLIENT_KEY_HEADER: key},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        label = answer.headers[rollout_settings.SERVED_LABEL_HEADER]
        version = {rollout_settings.STABLE_LABEL: "1", rollout_settings.CANARY_LABEL: "2"}[label]
        assert answer.json()["model_version"] == version
        assert answer.headers[rollout_settings.SERVED_VERSION_HEADER] == version
        served.add(label)
    assert served == {rollout_settings.STABLE_LABEL, rollout_settings.CANARY_LABEL}

    stub = oip_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(router.grpc_target))
    request = oip_pb.ModelInferRequest(model_name=configs.MODEL_NAME)
    request.parameters["signature_name"].string_param = features.SIGNATURE_IMAGES
    request.inputs.add(name=features.INPUT_IMAGES, datatype="UINT8", shape=list(batch.shape))
    request.raw_input_contents.append(batch.tobytes())
    response = stub.ModelInfer(request, timeout=30)
    assert response.model_version in ("1", "2")

    text = session.get(router.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=10).text
    snapshot = analysis.parse_metrics(text)
    canary = analysis.stats_for(snapshot, rollout_settings.CANARY_LABEL, 2)
    assert canary.requests >= 1 and set(canary.classes) == {0}  # "constant": class 0 always
    assert 'protocol="rest-oip"' in text and 'protocol="grpc-oip"' in text
