"""TF Serving conformance: only the official stubs and plain HTTP, only TF Serving behaviour.

Every expectation here is what TF Serving 2.16 does with models shaped like its own test
models (see serving/testing/conformance_models.py), so the suite runs unchanged against a
real ``tensorflow_model_server`` (set SERVING_GRPC_TARGET and SERVING_REST_URL).
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

TF1, TF2, TWO, KERAS = "half_plus_two", "half_plus_two_tf2", "two_versions", "keras_sequential"
CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def tensor(values, dtype=np.float32, shape=None):
    """A TensorProto built by hand with typed fields, as a non-TF client would."""
    from tensorflow.core.framework import tensor_pb2, types_pb2

    arr = np.asarray(values, dtype)
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    for size in shape if shape is not None else arr.shape:
        proto.tensor_shape.dim.add(size=size)
    proto.float_val.extend(arr.ravel().tolist())
    return proto


def predict(stub, model, x, shape=None, **spec):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    for k, v in spec.items():
        if k == "version":
            req.model_spec.version.value = v
        else:
            setattr(req.model_spec, k, v)
    req.inputs["x"].CopyFrom(tensor(x, shape=shape))
    return stub.Predict(req, timeout=30)


def examples(msg, *values, feature="x", context=None):
    target = msg.input.example_list.examples
    if context is not None:
        msg.input.example_list_with_context.context.features.feature["x2"].float_list.value.append(
            context
        )
        target = msg.input.example_list_with_context.examples
    for v in values:
        target.add().features.feature[feature].float_list.value.append(v)
    return msg


@pytest.mark.parametrize("model", [TF1, TF2])  # Keras: its input alias is the layer's
def test_predict_answers_in_typed_fields(stub, model):
    resp = predict(stub, model, [[1.0], [2.0], [5.0]])
    assert list(resp.outputs["y"].float_val) == [2.5, 3.0, 4.5]
    assert [d.size for d in resp.outputs["y"].tensor_shape.dim] == [3, 1]
    assert resp.model_spec.name == model and resp.model_spec.signature_name == "serving_default"


def test_predict_rank_one_input_on_a_minus_one_by_one_signature(stub):
    """[1] fed to x[-1,1]: TF Serving lets TensorFlow run it (y = 0.5x + 2 broadcast)."""
    resp = predict(stub, TF1, [1.0])
    assert list(resp.outputs["y"].float_val) == [2.5]


def test_predict_version_and_label_routing(stub):
    assert predict(stub, TWO, [[1.0]]).model_spec.version.value == 124
    old = predict(stub, TWO, [[1.0]], version=123)
    assert old.model_spec.version.value == 123 and list(old.outputs["y"].float_val) == [2.5]
    canary = predict(stub, TWO, [[1.0]], version_label="canary")
    assert list(canary.outputs["y"].float_val) == [3.5]


def test_grpc_errors_use_tf_serving_codes(stub):
    cases = [
        (
            lambda: predict(stub, "nope", [[1.0]]),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            lambda: predict(stub, TWO, [[1.0]], version=7),
            grpc.StatusCode.NOT_FOUND,
            f"Servable not found for request: Specific({TWO}, 7)",
        ),
        (
            lambda: predict(stub, TWO, [[1.0]], version_label="nope"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nope",
        ),
        (
            lambda: predict(stub, TF1, [[1.0]], signature_name="nope"),
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
    ]
    for call, code, message in cases:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == code and message in info.value.details()


@pytest.mark.parametrize("model", [TF1, TF2])
def test_classify(stub, model):
    req = classification_pb2.ClassificationRequest()
    req.model_spec.name, req.model_spec.signature_name = model, "classify_x_to_y"
    resp = stub.Classify(examples(req, 2.0, 4.0), timeout=30)
    assert [[c.score for c in row.classes] for row in resp.result.classifications] == [[3.0], [4.0]]
    assert resp.model_spec.signature_name == "classify_x_to_y"


@pytest.mark.parametrize(
    "model, signature, kwargs, expected",
    [
        (TF1, "regress_x_to_y", {}, [3.0]),
        (TF2, "regress_x_to_y", {}, [3.0]),
        (TF1, "regress_x_to_y2", {"context": 4.0}, [5.0]),
        (TF1, "regress_x2_to_y3", {}, [4.0]),
    ],
)
def test_regress(stub, model, signature, kwargs, expected):
    req = regression_pb2.RegressionRequest()
    req.model_spec.name, req.model_spec.signature_name = model, signature
    resp = stub.Regress(examples(req, 2.0, **kwargs), timeout=30)
    assert [r.value for r in resp.result.regressions] == expected


def test_regress_on_a_predict_signature_is_invalid_argument(stub):
    req = regression_pb2.RegressionRequest()
    req.model_spec.name = TF1
    with pytest.raises(grpc.RpcError) as info:
        stub.Regress(examples(req, 2.0), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_multi_inference(stub):
    req = inference_pb2.MultiInferenceRequest()
    for signature, method in (("regress_x_to_y", REGRESS), ("classify_x_to_y", CLASSIFY)):
        task = req.tasks.add()
        task.model_spec.name, task.model_spec.signature_name = TF1, signature
        task.method_name = method
    resp = stub.MultiInference(examples(req, 2.0), timeout=30)
    assert resp.results[0].regression_result.regressions[0].value == 3.0
    assert resp.results[1].classification_result.classifications[0].classes[0].score == 3.0
    assert [r.model_spec.version.value for r in resp.results] == [123, 123]


def test_multi_inference_on_a_tf2_model(stub):
    """TF2 SavedModels give each signature its own input tensor: TF Serving runs every
    task's signature on the same examples rather than refusing the request."""
    req = inference_pb2.MultiInferenceRequest()
    for signature, method in (("regress_x_to_y", REGRESS), ("classify_x_to_y", CLASSIFY)):
        task = req.tasks.add()
        task.model_spec.name, task.model_spec.signature_name = TF2, signature
        task.method_name = method
    resp = stub.MultiInference(examples(req, 2.0, 4.0), timeout=30)
    assert [r.value for r in resp.results[0].regression_result.regressions] == [3.0, 4.0]
    scores = [row.classes[0].score for row in resp.results[1].classification_result.classifications]
    assert scores == [3.0, 4.0]
    assert [r.model_spec.version.value for r in resp.results] == [1, 1]


def test_metadata_and_status_over_grpc(stub, channel):
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = TF2
    req.metadata_field.append("signature_def")
    resp = stub.GetModelMetadata(req, timeout=30)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    resp.metadata["signature_def"].Unpack(sig_map)
    assert {"serving_default", "classify_x_to_y", "regress_x_to_y"} <= set(sig_map.signature_def)
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = TWO
    got = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status, timeout=30)
    assert [(s.version, s.state) for s in got.model_version_status] == [
        (124, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
        (123, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
    ]


def rest(endpoint, method, path, **kw):
    return requests.request(method, endpoint.rest_url + path, timeout=30, **kw)


def test_rest_predict_row_and_columnar(endpoint):
    r = rest(endpoint, "POST", f"/v1/models/{TF1}:predict", json={"instances": [1.0, 2.0]})
    assert r.status_code == 200 and r.json() == {"predictions": [2.5, 3.0]}
    r = rest(endpoint, "POST", f"/v1/models/{TF2}:predict", json={"inputs": [[1.0]]})
    assert r.json() == {"outputs": [[2.5]]}
    r = rest(endpoint, "POST", f"/v1/models/{KERAS}:predict", json={"instances": [[1.0]]})
    assert r.status_code == 200 and r.json() == {"predictions": [[2.5]]}
    r = rest(
        endpoint, "POST", f"/v1/models/{TWO}/labels/canary:predict", json={"instances": [[1.0]]}
    )
    assert r.json() == {"predictions": [[3.5]]}


def test_rest_classify_and_regress(endpoint):
    r = rest(
        endpoint,
        "POST",
        f"/v1/models/{TF1}:classify",
        json={"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]},
    )
    assert r.status_code == 200 and r.json() == {"results": [[["", 3.0]]]}
    r = rest(
        endpoint,
        "POST",
        f"/v1/models/{TF2}:regress",
        json={"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}, {"x": 4.0}]},
    )
    assert r.json() == {"results": [3.0, 4.0]}
    r = rest(
        endpoint,
        "POST",
        f"/v1/models/{TF1}:regress",
        json={
            "signature_name": "regress_x_to_y2",
            "context": {"x2": 4.0},
            "examples": [{"x": 2.0}],
        },
    )
    assert r.json() == {"results": [5.0]}


def test_rest_status_and_metadata_json(endpoint):
    r = rest(endpoint, "GET", f"/v1/models/{TWO}/versions/123")
    assert r.json() == {
        "model_version_status": [
            {
                "version": "123",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    meta = rest(endpoint, "GET", f"/v1/models/{TF1}/metadata").json()
    assert meta["model_spec"] == {"name": TF1, "signature_name": "", "version": "123"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["x"]["dtype"] == "DT_FLOAT" and sig["defaults"] == {}
    assert sig["inputs"]["x"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
        "unknown_rank": False,
    }


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        ("POST", f"/v1/models/{TF1}:predict", {"instances": [["a"]]}, 400, "is not of expected"),
        ("POST", f"/v1/models/{TF1}:predict", b"{", 400, "JSON Parse error"),
        ("POST", "/v1/models/nope:predict", {"instances": [1.0]}, 404, "Servable not found"),
        ("POST", f"/v1/models/{TF1}:nope", {"instances": [1.0]}, 400, "Malformed request"),
        ("GET", f"/v1/models/{TWO}/labels/nope", None, 400, "Unrecognized servable version label"),
        ("POST", f"/v1/models/{TF1}:classify", {"examples": [{"x": 1.0}]}, 400, ""),
        (
            "POST",
            f"/v1/models/{TF1}:regress",
            {"signature_name": "regress_x_to_y", "examples": []},
            400,
            "empty array",
        ),
    ],
)
def test_rest_errors(endpoint, method, path, body, status, message):
    kw = {"data": body} if isinstance(body, bytes) else {"json": body} if body else {}
    r = rest(endpoint, method, path, **kw)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
