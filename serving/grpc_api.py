"""gRPC front end: TF Serving's ``PredictionService`` and ``ModelService``.

Built on the servicer base classes generated in ``tensorflow_serving.apis`` so the wire
protocol is TF Serving's own; clients use the official stubs unchanged. Errors abort the
call with TF Serving's status codes (NOT_FOUND, INVALID_ARGUMENT, ...). Regress and
MultiInference are left to the base class (UNIMPLEMENTED).
"""

from __future__ import annotations

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import tensor_proto
from serving.errors import ServingError
from serving.request_handler import RequestHandler

SIGNATURE_DEF_FIELD = "signature_def"


def _spec(model_spec) -> tuple[str, int | None, str | None]:
    version = model_spec.version.value if model_spec.HasField("version") else None
    return model_spec.name, version, (model_spec.version_label or None)


def _abort(context: grpc.ServicerContext, err: ServingError):
    context.abort(getattr(grpc.StatusCode, err.code, grpc.StatusCode.UNKNOWN), err.message)


def _answered_by(model_spec, name: str, result) -> None:
    """Echo the model, the version actually used and the signature, as TF Serving does."""
    model_spec.name = name
    model_spec.version.value = result.version
    model_spec.signature_name = result.signature


def _examples(request_input) -> list[bytes]:
    """Serialized tf.Examples of an ``Input`` (context merged in, as TF Serving does)."""
    which = request_input.WhichOneof("kind")
    if which == "example_list":
        return [e.SerializeToString() for e in request_input.example_list.examples]
    if which == "example_list_with_context":
        lwc = request_input.example_list_with_context
        out = []
        for ex in lwc.examples:
            merged = type(ex)()
            merged.CopyFrom(lwc.context)
            merged.MergeFrom(ex)
            out.append(merged.SerializeToString())
        return out
    return []


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        name, version, label = _spec(request.model_spec)
        try:
            with self.handler.track("grpc", "predict", name) as t:
                result = self.handler.predict(
                    t, version, label, request.model_spec.signature_name,
                    lambda sig: tensor_proto.to_arrays(request.inputs))
                response = predict_pb2.PredictResponse()
                _answered_by(response.model_spec, name, result)
                for key, proto in tensor_proto.to_protos(result.outputs,
                                                         request.output_filter).items():
                    response.outputs[key].CopyFrom(proto)
                return response
        except ServingError as err:
            _abort(context, err)

    def Classify(self, request, context):  # noqa: N802
        name, version, label = _spec(request.model_spec)
        try:
            with self.handler.track("grpc", "classify", name) as t:
                result = self.handler.classify(t, version, label,
                                               request.model_spec.signature_name,
                                               _examples(request.input))
                response = classification_pb2.ClassificationResponse()
                _answered_by(response.model_spec, name, result)
                classes = result.outputs.get("classes")
                scores = result.outputs.get("scores")
                if scores is not None:
                    _check_2d(scores, "scores")
                if classes is not None:
                    _check_2d(classes, "classes")
                n = t.batch
                for i in range(n):
                    row = response.result.classifications.add()
                    k = (scores if scores is not None else classes).shape[1]
                    for j in range(k):
                        cls = row.classes.add()
                        if classes is not None:
                            label_value = classes[i, j]
                            cls.label = (label_value.decode() if isinstance(label_value, bytes)
                                         else str(label_value))
                        if scores is not None:
                            cls.score = float(scores[i, j])
                return response
        except ServingError as err:
            _abort(context, err)

    def GetModelMetadata(self, request, context):  # noqa: N802
        name, version, label = _spec(request.model_spec)
        try:
            with self.handler.track("grpc", "metadata", name) as t:
                fields = list(request.metadata_field)
                if fields != [SIGNATURE_DEF_FIELD]:
                    raise ServingError("INVALID_ARGUMENT",
                                       "Metadata field(s) not supported: "
                                       f"{fields}; use ['{SIGNATURE_DEF_FIELD}']")
                used, sig_map = self.handler.metadata(t, version, label)
                response = get_model_metadata_pb2.GetModelMetadataResponse()
                response.model_spec.name = name
                response.model_spec.version.value = used
                response.metadata[SIGNATURE_DEF_FIELD].Pack(sig_map)
                return response
        except ServingError as err:
            _abort(context, err)


def _check_2d(arr, key: str) -> None:
    if arr.ndim != 2:
        raise ServingError("INVALID_ARGUMENT",
                           f"classification output '{key}' must be [batch, classes], "
                           f"got shape {list(arr.shape)}")


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler

    def GetModelStatus(self, request, context):  # noqa: N802
        name, version, label = _spec(request.model_spec)
        try:
            with self.handler.track("grpc", "status", name) as t:
                response = get_model_status_pb2.GetModelStatusResponse()
                for s in self.handler.status(t, version, label):
                    entry = response.model_version_status.add()
                    entry.version = s.version
                    entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(s.state)
                    entry.status.error_code = _error_code(s.error_code)
                    entry.status.error_message = s.error_message
                return response
        except ServingError as err:
            _abort(context, err)


def _error_code(name: str) -> int:
    """tensorflow.error.Code uses the same numbers as gRPC status codes."""
    return getattr(grpc.StatusCode, name, grpc.StatusCode.UNKNOWN).value[0]


def add_to_server(server: grpc.Server, handler: RequestHandler) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(handler), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(handler), server)

