"""gRPC front end: TF Serving's ``PredictionService`` and ``ModelService``.

Built on the servicer base classes generated in ``tensorflow_serving.apis`` so the wire
protocol is TF Serving's own; clients use the official stubs unchanged. Every method only
converts: request proto -> :class:`~serving.data_plane.DataPlane` call -> response proto.
Errors abort the call with the status code of :mod:`serving.errors`' table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving import tensor_proto
from serving.data_plane import DataPlane, ModelRef, Tracked, status_response
from serving.errors import ServingError, Unimplemented, invalid

SIGNATURE_DEF_FIELD = "signature_def"
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def grpc_status(err: ServingError) -> grpc.StatusCode:
    """The gRPC status code of a ServingError (same numbers as tensorflow.error.Code)."""
    return _BY_NUMBER.get(err.number, grpc.StatusCode.UNKNOWN)


def model_ref(model_spec) -> ModelRef:
    """The version a ``ModelSpec`` asks for (TF Serving's version_choice oneof)."""
    which = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if which == "version" else None
    label = model_spec.version_label if which == "version_label" else None
    return ModelRef(model_spec.name, version, label)


def abort(context: grpc.ServicerContext, err: ServingError):
    context.abort(grpc_status(err), err.message)


def _echo(model_spec, name: str, version: int, signature: str | None) -> None:
    """TF Serving's MakeModelSpec: the model, the version that answered, the signature."""
    model_spec.name = name
    if signature is not None:
        model_spec.signature_name = signature
    model_spec.version.value = version


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, plane: DataPlane, tensor_content: bool = False) -> None:
        self.plane = plane
        self.tensor_content = tensor_content

    def _serve(self, api: str, model_spec, context, body: Callable[[Tracked, ModelRef], Any]):
        ref = model_ref(model_spec)
        try:
            with self.plane.track("grpc", api, ref.name) as t:
                return body(t, ref)
        except ServingError as err:
            abort(context, err)

    def Predict(self, request, context):  # gRPC method name
        def body(t: Tracked, ref: ModelRef):
            answer = self.plane.predict(
                t,
                ref,
                request.model_spec.signature_name,
                lambda _sig: tensor_proto.to_arrays(request.inputs),
                output_filter=request.output_filter,
            )
            response = predict_pb2.PredictResponse()
            _echo(response.model_spec, ref.name, answer.version, answer.signature)
            for key, value in answer.outputs.items():
                response.outputs[key].CopyFrom(tensor_proto.to_proto(value, self.tensor_content))
            return response

        return self._serve("predict", request.model_spec, context, body)

    def Classify(self, request, context):
        def body(t: Tracked, ref: ModelRef):
            version, signature, result = self.plane.classify(
                t, ref, request.model_spec.signature_name, request.input
            )
            response = classification_pb2.ClassificationResponse()
            _echo(response.model_spec, ref.name, version, signature)
            response.result.CopyFrom(result)
            return response

        return self._serve("classify", request.model_spec, context, body)

    def Regress(self, request, context):
        def body(t: Tracked, ref: ModelRef):
            version, signature, result = self.plane.regress(
                t, ref, request.model_spec.signature_name, request.input
            )
            response = regression_pb2.RegressionResponse()
            _echo(response.model_spec, ref.name, version, signature)
            response.result.CopyFrom(result)
            return response

        return self._serve("regress", request.model_spec, context, body)

    def MultiInference(self, request, context):
        if not request.tasks:
            abort(context, invalid("MultiInferenceRequest must contain at least one task."))
        return self._serve(
            "multi_inference",
            request.tasks[0].model_spec,
            context,
            lambda t, ref: self.plane.multi_inference(t, ref, request),
        )

    def GetModelMetadata(self, request, context):
        def body(t: Tracked, ref: ModelRef):
            fields = list(request.metadata_field)
            if not fields:
                raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
            for field in fields:
                if field != SIGNATURE_DEF_FIELD:
                    raise invalid(f"Metadata field {field} is not supported")
            version, signature_def_map = self.plane.metadata(t, ref)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _echo(response.model_spec, ref.name, version, None)
            response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_def_map)
            return response

        if not request.HasField("model_spec"):
            abort(context, invalid("Missing ModelSpec"))
        return self._serve("metadata", request.model_spec, context, body)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(
        self, plane: DataPlane, reload_config: Callable[[object], None] | None = None
    ) -> None:
        self.plane = plane
        self._reload = reload_config

    def GetModelStatus(self, request, context):
        ref = model_ref(request.model_spec)
        try:
            with self.plane.track("grpc", "status", ref.name) as t:
                return status_response(self.plane.status(t, ref))
        except ServingError as err:
            abort(context, err)

    def HandleReloadConfigRequest(self, request, context):
        """Swap in a new ModelServerConfig, as TF Serving's ModelService does."""
        response = model_management_pb2.ReloadConfigResponse()
        try:
            with self.plane.track("grpc", "reload_config", ""):
                if self._reload is None:
                    raise Unimplemented("config reload is not enabled")
                self._reload(request.config)
        except ServingError as err:
            response.status.error_code = err.number
            response.status.error_message = err.message
            abort(context, err)
        return response


def add_to_server(
    server: grpc.Server,
    plane: DataPlane,
    reload_config: Callable[[object], None] | None = None,
) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(plane), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(plane, reload_config), server
    )
