"""The TF Serving API contract, through public clients only (official gRPC stubs, plain HTTP).

Point it at any TF Serving endpoint to check that clients written against our server work
against the real one (and the other way round)::

    SERVING_GRPC_TARGET=host:8500 SERVING_REST_URL=http://host:8501 \\
    SERVING_MODEL_NAME=cifar10 [SERVING_LABELS=stable=1,canary=2] \\
        .venv/bin/python -m pytest tests/serving/test_contract.py

Unset, it starts the project's server on the pipeline-made model (versions 1 and 2, labels
stable -> 1, canary -> 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
import requests

from models import features
from models.dataset import CIFAR10
from pipeline import configs
from rollout import settings as rollout_settings
from tests.serving.helpers import GrpcClient, outputs, png, sample_images
from tests.support.encoding import b64, image_example

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@dataclass
class Endpoint:
    grpc_target: str
    rest_url: str
    model: str
    labels: dict[str, int]


@pytest.fixture(scope="module")
def endpoint(request) -> Endpoint:
    target, url = os.environ.get("SERVING_GRPC_TARGET"), os.environ.get("SERVING_REST_URL")
    model = os.environ.get("SERVING_MODEL_NAME", configs.MODEL_NAME)
    if target and url:
        labels = dict(
            (k, int(v))
            for k, v in (
                kv.split("=") for kv in os.environ.get("SERVING_LABELS", "").split(",") if kv
            )
        )
        return Endpoint(target, url.rstrip("/"), model, labels)
    server = request.getfixturevalue("pipeline_server")
    return Endpoint(
        server.grpc_target,
        server.rest_url,
        configs.MODEL_NAME,
        {rollout_settings.STABLE_LABEL: 1, rollout_settings.CANARY_LABEL: 2},
    )


@pytest.fixture(scope="module")
def client(endpoint):
    c = GrpcClient(endpoint.grpc_target)
    yield c
    c.close()


@pytest.fixture(scope="module")
def versions(endpoint) -> list[int]:
    r = requests.get(f"{endpoint.rest_url}/v1/models/{endpoint.model}", timeout=30)
    return sorted(
        int(s["version"]) for s in r.json()["model_version_status"] if s["state"] == "AVAILABLE"
    )


IMAGES = sample_images(4)


def url(endpoint: Endpoint, suffix: str = "", version=None, label=None) -> str:
    where = f"/versions/{version}" if version else (f"/labels/{label}" if label else "")
    return f"{endpoint.rest_url}/v1/models/{endpoint.model}{where}{suffix}"


def check_predictions(probs, ids, classes, n: int) -> None:
    probs, ids = np.asarray(probs, np.float32), np.asarray(ids)
    assert probs.shape == (n, CIFAR10.num_classes)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(ids, probs.argmax(axis=1))
    assert [CIFAR10.class_names[i] for i in ids] == [
        c.decode() if isinstance(c, bytes) else c for c in classes
    ]


# -- REST ---------------------------------------------------------------------------------
def test_rest_status(endpoint, versions):
    r = requests.get(url(endpoint), timeout=30)
    assert r.status_code == 200
    statuses = r.json()["model_version_status"]
    assert versions and all(isinstance(s["version"], str) for s in statuses)
    available = [s for s in statuses if s["state"] == "AVAILABLE"]
    assert available[0]["status"]["error_code"] == "OK"
    one = requests.get(url(endpoint, version=versions[0]), timeout=30).json()
    assert [s["version"] for s in one["model_version_status"]] == [str(versions[0])]


def test_rest_metadata(endpoint):
    doc = requests.get(url(endpoint, "/metadata"), timeout=30).json()
    assert doc["model_spec"]["name"] == endpoint.model
    sigs = doc["metadata"]["signature_def"]["signature_def"]
    expect = {
        features.SIGNATURE_EXAMPLES: (features.INPUT_EXAMPLES, "DT_STRING"),
        features.SIGNATURE_IMAGES: (features.INPUT_IMAGES, "DT_UINT8"),
        features.SIGNATURE_IMAGE_BYTES: (features.INPUT_IMAGE_BYTES, "DT_STRING"),
    }
    for name, (input_key, dtype) in expect.items():
        assert sigs[name]["method_name"] == "tensorflow/serving/predict"
        assert sigs[name]["inputs"][input_key]["dtype"] == dtype
        assert set(sigs[name]["outputs"]) == {
            features.OUTPUT_PROBABILITIES,
            features.OUTPUT_CLASS_IDS,
            features.OUTPUT_CLASSES,
        }


def test_rest_predict_row_b64_png(endpoint):
    body = {
        "signature_name": features.SIGNATURE_IMAGE_BYTES,
        "instances": [b64(png(i)) for i in IMAGES],
    }
    r = requests.post(url(endpoint, ":predict"), json=body, timeout=60)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    check_predictions(
        [p[features.OUTPUT_PROBABILITIES] for p in preds],
        [p[features.OUTPUT_CLASS_IDS] for p in preds],
        [p[features.OUTPUT_CLASSES] for p in preds],
        len(IMAGES),
    )


def test_rest_predict_row_named_b64_examples_default_signature(endpoint):
    body = {"instances": [{features.INPUT_EXAMPLES: b64(image_example(i))} for i in IMAGES]}
    r = requests.post(url(endpoint, ":predict"), json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == len(IMAGES)


def test_rest_predict_columnar_uint8(endpoint):
    body = {
        "signature_name": features.SIGNATURE_IMAGES,
        "inputs": {features.INPUT_IMAGES: IMAGES.tolist()},
    }
    r = requests.post(url(endpoint, ":predict"), json=body, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    check_predictions(
        out[features.OUTPUT_PROBABILITIES],
        out[features.OUTPUT_CLASS_IDS],
        out[features.OUTPUT_CLASSES],
        len(IMAGES),
    )


def test_rest_errors(endpoint):
    r = requests.get(f"{endpoint.rest_url}/v1/models/no-such-model", timeout=30)
    assert r.status_code == 404 and "error" in r.json()
    r = requests.post(url(endpoint, ":predict"), data=b"{not json", timeout=30)
    assert r.status_code == 400 and "error" in r.json()


# -- gRPC ---------------------------------------------------------------------------------
def test_grpc_predict(endpoint, client, versions):
    resp = client.predict(
        endpoint.model, {features.INPUT_IMAGES: IMAGES}, signature=features.SIGNATURE_IMAGES
    )
    assert resp.model_spec.name == endpoint.model
    assert resp.model_spec.version.value == versions[-1]  # latest by default
    assert resp.model_spec.signature_name == features.SIGNATURE_IMAGES
    out = outputs(resp)
    check_predictions(
        out[features.OUTPUT_PROBABILITIES],
        out[features.OUTPUT_CLASS_IDS],
        out[features.OUTPUT_CLASSES],
        len(IMAGES),
    )
    only = client.predict(
        endpoint.model,
        {features.INPUT_IMAGES: IMAGES},
        signature=features.SIGNATURE_IMAGES,
        output_filter=[features.OUTPUT_CLASS_IDS],
    )
    assert list(only.outputs) == [features.OUTPUT_CLASS_IDS]


def test_grpc_predict_examples_on_default_signature(endpoint, client):
    serialized = np.array([image_example(i) for i in IMAGES], dtype=object)
    resp = client.predict(endpoint.model, {features.INPUT_EXAMPLES: serialized})
    assert resp.model_spec.signature_name == features.SIGNATURE_EXAMPLES
    assert outputs(resp)[features.OUTPUT_PROBABILITIES].shape == (len(IMAGES), 10)


def test_grpc_metadata(endpoint, client, versions):
    resp, sig_map = client.metadata(endpoint.model)
    assert resp.model_spec.version.value == versions[-1]
    sig = sig_map.signature_def[features.SIGNATURE_IMAGES]
    assert [d.size for d in sig.inputs[features.INPUT_IMAGES].tensor_shape.dim] == [-1, 32, 32, 3]


def test_grpc_status(endpoint, client, versions):
    from tensorflow_serving.apis import get_model_status_pb2

    resp = client.status(endpoint.model)
    available = sorted(
        s.version
        for s in resp.model_version_status
        if s.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    )
    assert available == versions
    one = client.status(endpoint.model, version=versions[0])
    assert [s.version for s in one.model_version_status] == [versions[0]]
    assert one.model_version_status[0].status.error_code == 0


def test_grpc_not_found(endpoint, client):
    with pytest.raises(grpc.RpcError) as info:
        client.predict(
            "no-such-model", {features.INPUT_IMAGES: IMAGES}, signature=features.SIGNATURE_IMAGES
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


# -- version and label routing ------------------------------------------------------------
def test_version_routing(endpoint, client, versions):
    for v in versions:
        resp = client.predict(
            endpoint.model,
            {features.INPUT_IMAGES: IMAGES[:1]},
            signature=features.SIGNATURE_IMAGES,
            version=v,
        )
        assert resp.model_spec.version.value == v
        meta = requests.get(url(endpoint, "/metadata", version=v), timeout=30).json()
        assert meta["model_spec"]["version"] == str(v)
        r = requests.post(
            url(endpoint, ":predict", version=v),
            timeout=60,
            json={"signature_name": features.SIGNATURE_IMAGES, "instances": IMAGES[:1].tolist()},
        )
        assert r.status_code == 200


def test_label_routing(endpoint, client):
    if not endpoint.labels:
        pytest.skip("set SERVING_LABELS=label=version,... to check labels on this endpoint")
    for label, version in endpoint.labels.items():
        resp = client.predict(
            endpoint.model,
            {features.INPUT_IMAGES: IMAGES[:1]},
            signature=features.SIGNATURE_IMAGES,
            label=label,
        )
        assert resp.model_spec.version.value == version
        status = requests.get(url(endpoint, label=label), timeout=30).json()
        assert status["model_version_status"][0]["version"] == str(version)
        meta = requests.get(url(endpoint, "/metadata", label=label), timeout=30).json()
        assert meta["model_spec"]["version"] == str(version)
        r = requests.post(
            url(endpoint, ":predict", label=label),
            timeout=60,
            json={"signature_name": features.SIGNATURE_IMAGES, "instances": IMAGES[:1].tolist()},
        )
        assert r.status_code == 200
