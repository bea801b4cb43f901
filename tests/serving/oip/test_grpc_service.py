"""The Open Inference Protocol's GRPCInferenceService, on the server's TF Serving gRPC port."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from serving.oip import datatypes
from serving.oip.protos import open_inference_pb2 as pb
from tests.serving.oip.conftest import MODEL
from tests.serving.oip.test_datatypes import SAMPLES

Input = pb.ModelInferRequest.InferInputTensor


def _raw_request(name, x, signature=None, version=""):
    request = pb.ModelInferRequest(model_name=MODEL, model_version=version, id="g1")
    request.inputs.add(name="x", datatype=name, shape=list(x.shape))
    request.raw_input_contents.append(datatypes.to_raw(x))
    if signature:
        request.parameters["signature_name"].string_param = signature
    return request


def _outputs(response) -> dict[str, np.ndarray]:
    out = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        dtype = datatypes.BY_NAME[tensor.datatype]
        out[tensor.name] = datatypes.from_raw(raw, tensor.name, dtype, list(tensor.shape))
    return out


def test_health_and_metadata(grpc_stub):
    assert grpc_stub.ServerLive(pb.ServerLiveRequest()).live
    assert grpc_stub.ServerReady(pb.ServerReadyRequest()).ready
    assert grpc_stub.ModelReady(pb.ModelReadyRequest(name=MODEL, version="2")).ready
    assert grpc_stub.ModelReady(pb.ModelReadyRequest(name=MODEL, version="canary")).ready
    assert not grpc_stub.ModelReady(pb.ModelReadyRequest(name=MODEL, version="7")).ready
    server = grpc_stub.ServerMetadata(pb.ServerMetadataRequest())
    assert "binary_tensor_data" in server.extensions
    meta = grpc_stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL, version="1"))
    assert (meta.name, list(meta.versions), meta.platform) == (
        MODEL,
        ["1"],
        "tensorflow_savedmodel",
    )
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("x", "FP32", [-1, 3])]


def test_raw_infer_on_serving_default(grpc_stub):
    x = np.array([[1, 2, 3], [-1, -1, -1]], dtype=np.float32)
    response = grpc_stub.ModelInfer(_raw_request("FP32", x, version="stable"))
    assert (response.model_name, response.model_version, response.id) == (MODEL, "1", "g1")
    out = _outputs(response)
    np.testing.assert_array_equal(out["doubled"], x * 2)
    assert out["label"].tolist() == [b"positive", b"not positive"]


@pytest.mark.parametrize("name", [*sorted(SAMPLES), "BYTES"])
def test_every_datatype_round_trips_raw(grpc_stub, name):
    if name == "BYTES":
        x = np.array([[b"a", b"\x89PNG"]], dtype=object)
    else:
        x = datatypes.from_values(SAMPLES[name], "x", datatypes.BY_NAME[name], (1, 2))
    response = grpc_stub.ModelInfer(_raw_request(name, x, signature=f"echo_{name}"))
    out = _outputs(response)["y"]
    assert response.outputs[0].datatype == name
    np.testing.assert_array_equal(out, x)


def test_typed_contents(grpc_stub):
    request = pb.ModelInferRequest(model_name=MODEL)
    request.parameters["signature_name"].string_param = "echo_UINT8"
    tensor = request.inputs.add(name="x", datatype="UINT8", shape=[1, 3])
    tensor.contents.uint_contents.extend([0, 7, 255])
    out = _outputs(grpc_stub.ModelInfer(request))["y"]
    assert out.tolist() == [[0, 7, 255]] and out.dtype == np.uint8


def _error(grpc_stub, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        grpc_stub.ModelInfer(request)
    return info.value


def test_client_errors_have_their_codes(grpc_stub):
    x = np.ones((1, 3), np.float32)
    unknown = _raw_request("FP32", x)
    unknown.model_name = "nope"
    assert _error(grpc_stub, unknown).code() == grpc.StatusCode.NOT_FOUND

    missing_version = _raw_request("FP32", x, version="42")
    assert _error(grpc_stub, missing_version).code() == grpc.StatusCode.NOT_FOUND

    short = _raw_request("FP32", x)
    short.raw_input_contents[0] = b"\x00" * 5
    err = _error(grpc_stub, short)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "needs 12 bytes" in err.details()

    count = _raw_request("FP32", x)
    count.raw_input_contents.append(b"")
    assert "2 entries for 1 inputs" in _error(grpc_stub, count).details()

    fp16 = pb.ModelInferRequest(model_name=MODEL)
    fp16.inputs.add(name="x", datatype="FP16", shape=[1])
    assert "must come in raw_input_contents" in _error(grpc_stub, fp16).details()

    huge = _raw_request("FP32", x)
    huge.inputs[0].shape[:] = [2**40, 2**40]
    assert "would decode to more than" in _error(grpc_stub, huge).details()

    bad_type = _raw_request("FP32", x)
    bad_type.inputs[0].datatype = "STRING"
    assert "unsupported datatype" in _error(grpc_stub, bad_type).details()

    wrong_type = _raw_request("FP64", x.astype(np.float64))
    assert "expects FP32" in _error(grpc_stub, wrong_type).details()


def test_model_ready_and_metadata_of_an_unknown_model(grpc_stub):
    with pytest.raises(grpc.RpcError) as info:
        grpc_stub.ModelReady(pb.ModelReadyRequest(name="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        grpc_stub.ModelMetadata(pb.ModelMetadataRequest(name="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
