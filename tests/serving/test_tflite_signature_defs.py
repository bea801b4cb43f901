"""TFLite models that carry TF Serving's own SignatureDefs (the ``signature_defs_metadata``
entry TF Serving's ``saved_model_half_plus_two_tflite_with_sigdef`` has): served under those
aliases, their TensorFlow tensor names (``:0``) resolved to the interpreter's tensors, and a
SignatureDef naming no tensor of the model fails the load."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from serving.model_paths import model_url
from tests.serving.helpers import GrpcClient, outputs

MODEL = "tflite_with_sigdefs"


def build_tf1_half_plus_two_tflite(version_dir) -> None:
    """y = 0.5 x + 2 converted from a TF1 session, as TF Serving's sigdef model was: the
    interpreter's tensors keep the graph's op names (``tflite_input``, ``y``, no ``:0``)."""
    import tensorflow as tf

    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        x = tf.compat.v1.placeholder(tf.float32, [None, 1], name="tflite_input")
        y = tf.add(tf.multiply(x, 0.5), 2.0, name="y")
        content = tf.compat.v1.lite.TFLiteConverter.from_session(sess, [x], [y]).convert()
    version_dir.mkdir(parents=True)
    (version_dir / "model.tflite").write_bytes(content)


def attach_signature_defs(model_file, signatures: dict) -> None:
    """Rewrite ``model_file`` with a ``signature_defs_metadata`` entry: a FlexBuffer map of
    signature key -> serialized SignatureDef, the layout TFLite's signature_def_util uses."""
    import flatbuffers
    from flatbuffers import flexbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(model_file.read_bytes(), 0)
    # FlexBuffer strings are text here: these small SignatureDefs serialize to ASCII bytes.
    payload = flexbuffers.Dumps(
        {key: sig.SerializeToString().decode("ascii") for key, sig in signatures.items()}
    )
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = "signature_defs_metadata"
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    model_file.write_bytes(bytes(builder.Output()))


def tensor_names(model_file) -> tuple[str, str]:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(model_file))
    return interpreter.get_input_details()[0]["name"], interpreter.get_output_details()[0]["name"]


def predict_signature(input_name: str, output_name: str):
    """Aliases unlike the converter's own (``x`` / ``y``), names in TensorFlow's ``:0`` form;
    the shape left unknown, as a TF1 SignatureDef may."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    sig = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    for infos, alias, name in (
        (sig.inputs, "features", input_name),
        (sig.outputs, "half_plus_two", output_name),
    ):
        infos[alias].name = f"{name}:0"
        infos[alias].dtype = types_pb2.DT_FLOAT  # no shape: -1 would not serialize to ASCII
    return sig


@pytest.fixture(scope="module")
def sigdef_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("tflite_sigdefs") / MODEL
    build_tf1_half_plus_two_tflite(base / "1")
    model_file = base / "1" / "model.tflite"
    attach_signature_defs(
        model_file, {"serving_default": predict_signature(*tensor_names(model_file))}
    )
    return base


def test_the_models_own_signature_defs_are_served(sigdef_base, start_server):
    from serving.servable import LoadOptions

    server = start_server(
        model_name=MODEL, model_base_path=sigdef_base, load_options=LoadOptions(prefer_tflite=True)
    )
    client = GrpcClient(server.grpc_target)
    try:
        _, sig_map = client.metadata(MODEL)
        sig = sig_map.signature_def["serving_default"]
        assert list(sig.inputs) == ["features"] and list(sig.outputs) == ["half_plus_two"]
        input_name, _ = tensor_names(sigdef_base / "1" / "model.tflite")
        assert sig.inputs["features"].name == input_name  # ":0" resolved to the tensor
        x = np.array([[2.0], [4.0]], np.float32)
        resp = client.predict(MODEL, {"features": x})
        assert outputs(resp)["half_plus_two"].reshape(-1).tolist() == [3.0, 4.0]
        assert resp.model_spec.signature_name == "serving_default"
    finally:
        client.close()
    r = requests.post(
        server.rest_url + model_url(MODEL, verb="predict"),
        json={"instances": [{"features": [6.0]}]},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [[5.0]]}
    r = requests.post(
        server.rest_url + model_url(MODEL, verb="predict"),
        json={"inputs": {"x": [[1.0]]}},  # the converter's alias is not this model's
        timeout=30,
    )
    assert r.status_code == 400
    assert "features" in r.json()["error"]


def test_a_signature_def_naming_no_tensor_fails_the_load(tmp_path):
    from serving.tflite import TfliteModel

    build_tf1_half_plus_two_tflite(tmp_path / "1")
    model_file = tmp_path / "1" / "model.tflite"
    _, output_name = tensor_names(model_file)
    attach_signature_defs(
        model_file, {"serving_default": predict_signature("no_such_tensor", output_name)}
    )
    with pytest.raises(ValueError, match="Signature input features references an unknown tensor"):
        TfliteModel(tmp_path / "1")


def test_a_model_without_signature_defs_has_none(tmp_path):
    from serving.tflite import legacy_signature_defs

    build_tf1_half_plus_two_tflite(tmp_path / "1")
    assert legacy_signature_defs(tmp_path / "1" / "model.tflite") == {}
