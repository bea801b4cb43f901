"""Client-side helpers for the serving tests: images and the official gRPC stubs."""

from __future__ import annotations

import grpc
import numpy as np
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from ingest import settings as ingest_settings
from models.dataset import CIFAR10
from serving.image_codec import encode_png as png  # noqa: F401  (the suites' short name)
from tests.system_deps import shared_cifar

# How long a test waits for a model version to load (or to end its load attempt) on a busy
# 2-core machine: a TensorFlow SavedModel load there takes far longer than the seconds it
# takes alone. The servers' startup_timeout in conftest.py is the same 60 s.
MODEL_LOAD_TIMEOUT = 60.0


def sample_images(n: int, seed: int = 0) -> np.ndarray:
    """``n`` real CIFAR-10 test images when the shared subset is there, else random ones."""
    if (ingest_settings.SHARED_DATA_ROOT / ingest_settings.TEST_BATCH).is_file():
        images = shared_cifar("test").images
        if len(images) >= n:
            return images[:n]
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *CIFAR10.image_shape), dtype=np.uint8)


class GrpcClient:
    """The official stubs; nothing project-specific on the wire."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(
            target,
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        self.predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_stub = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    @staticmethod
    def spec(
        msg,
        model: str,
        version: int | None = None,
        label: str | None = None,
        signature: str | None = None,
    ):
        msg.model_spec.name = model
        if version is not None:
            msg.model_spec.version.value = version
        if label:
            msg.model_spec.version_label = label
        if signature:
            msg.model_spec.signature_name = signature
        return msg

    def predict(
        self,
        model: str,
        inputs: dict,
        *,
        signature: str | None = None,
        version: int | None = None,
        label: str | None = None,
        output_filter=(),
        timeout: float = 30,
    ):
        import tensorflow as tf

        req = self.spec(predict_pb2.PredictRequest(), model, version, label, signature)
        for key, value in inputs.items():
            req.inputs[key].CopyFrom(
                value
                if hasattr(value, "dtype") and hasattr(value, "tensor_shape")
                else tf.make_tensor_proto(value)
            )
        req.output_filter.extend(output_filter)
        return self.predict_stub.Predict(req, timeout=timeout)

    def metadata(
        self,
        model: str,
        version: int | None = None,
        label: str | None = None,
        fields=("signature_def",),
    ):
        req = self.spec(get_model_metadata_pb2.GetModelMetadataRequest(), model, version, label)
        req.metadata_field.extend(fields)
        resp = self.predict_stub.GetModelMetadata(req, timeout=30)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        if "signature_def" in resp.metadata:
            resp.metadata["signature_def"].Unpack(sig_map)
        return resp, sig_map

    def status(self, model: str, version: int | None = None, label: str | None = None):
        req = self.spec(get_model_status_pb2.GetModelStatusRequest(), model, version, label)
        return self.model_stub.GetModelStatus(req, timeout=30)


def outputs(resp) -> dict[str, np.ndarray]:
    import tensorflow as tf

    return {k: tf.make_ndarray(v) for k, v in resp.outputs.items()}
