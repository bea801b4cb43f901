"""``--prefer_tflite_model=true``: a version folder holding ``model.tflite`` is served through
``tf.lite.Interpreter`` as TF Serving serves it (half_plus_two, converted here)."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from serving import cli
from serving.model_paths import model_url
from tests.serving.helpers import GrpcClient, outputs

MODEL = "half_plus_two_tflite"


def build_half_plus_two_tflite(version_dir) -> None:
    """TF Serving's saved_model_half_plus_two_tflite: y = 0.5 x + 2, model.tflite only."""
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def predict(self, x):
            return {"y": 0.5 * x + 2.0}

    module = HalfPlusTwo()
    saved = version_dir.parent / f".saved-{version_dir.name}"
    tf.saved_model.save(module, str(saved), signatures={"serving_default": module.predict})
    content = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
    version_dir.mkdir(parents=True)
    (version_dir / "model.tflite").write_bytes(content)


@pytest.fixture(scope="module")
def tflite_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("tflite") / MODEL
    build_half_plus_two_tflite(base / "1")
    return base


@pytest.fixture
def server(tflite_base, start_server):
    from serving.servable import LoadOptions

    options = LoadOptions(prefer_tflite=True, tflite_pools=2, tflite_interpreters_per_pool=2)
    return start_server(model_name=MODEL, model_base_path=tflite_base, load_options=options)


def test_predict_with_and_without_a_signature_name(server):
    client = GrpcClient(server.grpc_target)
    try:
        x = np.array([[1.0], [2.0], [5.0]], np.float32)
        for signature in (None, "serving_default"):
            resp = client.predict(MODEL, {"x": x}, signature=signature)
            assert outputs(resp)["y"].reshape(-1).tolist() == [2.5, 3.0, 4.5]
            assert resp.model_spec.signature_name == "serving_default"
        meta, sig_map = client.metadata(MODEL)
        assert meta.model_spec.version.value == 1
        sig = sig_map.signature_def["serving_default"]
        assert sig.method_name == "tensorflow/serving/predict"
        assert [d.size for d in sig.inputs["x"].tensor_shape.dim] == [-1, 1]
    finally:
        client.close()
    r = requests.post(
        server.rest_url + model_url(MODEL, verb="predict"),
        json={"instances": [[1.0], [3.0]]},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [[2.5], [3.5]]}
    r = requests.post(
        server.rest_url + model_url(MODEL, verb="predict"),
        json={"instances": [["not a number"]]},
        timeout=30,
    )
    assert r.status_code == 400


def test_interpreter_pool_serves_concurrent_requests(server):
    import concurrent.futures

    def call(i: int) -> list:
        r = requests.post(
            server.rest_url + model_url(MODEL, verb="predict"),
            json={"instances": [[float(i)]]},
            timeout=30,
        )
        return r.json()["predictions"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(32)))
    assert answers == [[[0.5 * i + 2.0]] for i in range(32)]
    servable = server.manager.acquire(MODEL)
    try:
        assert servable._model.interpreters == 4  # 2 pools x 2 interpreters
    finally:
        servable.release()


def test_without_the_flag_a_tflite_only_folder_is_not_a_version(tflite_base, capsys):
    # TF Serving's default: SavedModels only, so the version folder is incomplete.
    assert not (tflite_base / "1" / "saved_model.pb").exists()
    from serving.model_paths import list_versions

    assert list_versions(tflite_base) == {}
    assert sorted(list_versions(tflite_base, prefer_tflite=True)) == [1]
    assert cli.build_parser().parse_args(["--prefer_tflite_model=true"]).prefer_tflite_model
