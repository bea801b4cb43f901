"""gRPC front end: TF Serving's ``PredictionService`` and ``ModelService``.

Built on the servicer base classes generated in ``tensorflow_serving.apis`` so the wire
protocol is TF Serving's own; clients use the official stubs unchanged. Every method is
linear: resolve and lease the version, run :mod:`serving.inference`, fill the response.
Errors abort the call with TF Serving's status codes and messages.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving import inference, tensor_proto
from serving.errors import ServingError, invalid
from serving.request_handler import RequestHandler

SIGNATURE_DEF_FIELD = "signature_def"
_STATUS = {code.name: code for code in grpc.StatusCode}


def _spec(model_spec) -> tuple[str, int | None, str | None]:
    which = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if which == "version" else None
    label = model_spec.version_label if which == "version_label" else None
    return model_spec.name, version, label


def _abort(context: grpc.ServicerContext, err: ServingError):
    context.abort(_STATUS.get(err.code, grpc.StatusCode.UNKNOWN), err.message)


def _echo(model_spec, name: str, version: int, signature: str | None) -> None:
    """TF Serving's MakeModelSpec: the model, the version that answered, the signature."""
    model_spec.name = name
    if signature is not None:
        model_spec.signature_name = signature
    model_spec.version.value = version


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, handler: RequestHandler, tensor_content: bool = False) -> None:
        self.handler = handler
        self.tensor_content = tensor_content

    def _serve(self, api: str, request, context, body: Callable):
        name, version, label = _spec(request.model_spec)
        try:
            with (
                self.handler.track("grpc", api, name) as t,
                self.handler.lease(t, version, label) as servable,
            ):
                return body(t, servable, name)
        except ServingError as err:
            _abort(context, err)

    def Predict(self, request, context):  # gRPC method name
        def body(t, servable, name):
            sig = inference.signature_for_predict(servable, request.model_spec.signature_name)
            t.signature = sig.name
            inputs = tensor_proto.to_arrays(request.inputs)
            t.batch = _rows(inputs)
            outputs = inference.predict(
                servable, sig, inputs, request.output_filter, self.handler.run_options
            )
            response = predict_pb2.PredictResponse()
            _echo(response.model_spec, name, servable.version, sig.name)
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tensor_proto.to_proto(value, self.tensor_content))
            return response

        return self._serve("predict", request, context, body)

    def Classify(self, request, context):
        def body(t, servable, name):
            sig, result = inference.classify(
                servable, request.model_spec.signature_name, request.input, self.handler.run_options
            )
            t.signature, t.batch = sig.name, len(result.classifications)
            response = classification_pb2.ClassificationResponse()
            _echo(response.model_spec, name, servable.version, sig.name)
            response.result.CopyFrom(result)
            return response

        return self._serve("classify", request, context, body)

    def Regress(self, request, context):
        def body(t, servable, name):
            sig, result = inference.regress(
                servable, request.model_spec.signature_name, request.input, self.handler.run_options
            )
            t.signature, t.batch = sig.name, len(result.regressions)
            response = regression_pb2.RegressionResponse()
            _echo(response.model_spec, name, servable.version, sig.name)
            response.result.CopyFrom(result)
            return response

        return self._serve("regress", request, context, body)

    def MultiInference(self, request, context):
        first = request.tasks[0].model_spec if request.tasks else None
        if first is None:
            _abort(context, invalid("MultiInferenceRequest must contain at least one task."))
        name, version, label = _spec(first)
        try:
            with (
                self.handler.track("grpc", "multi_inference", name) as t,
                self.handler.lease(t, version, label) as servable,
            ):
                return inference.multi_inference(servable, request, self.handler.run_options)
        except ServingError as err:
            _abort(context, err)

    def GetModelMetadata(self, request, context):
        def body(t, servable, name):
            fields = list(request.metadata_field)
            if not fields:
                raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
            for field in fields:
                if field != SIGNATURE_DEF_FIELD:
                    raise invalid(f"Metadata field {field} is not supported")
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _echo(response.model_spec, name, servable.version, None)
            response.metadata[SIGNATURE_DEF_FIELD].Pack(servable.signature_def_map)
            return response

        if not request.HasField("model_spec"):
            _abort(context, invalid("Missing ModelSpec"))
        return self._serve("metadata", request, context, body)


def _rows(inputs) -> int:
    sizes = {v.shape[0] if v.ndim else 0 for v in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else 0


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(
        self, handler: RequestHandler, reload_config: Callable[[object], None] | None = None
    ) -> None:
        self.handler = handler
        self._reload = reload_config

    def GetModelStatus(self, request, context):
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

    def HandleReloadConfigRequest(self, request, context):
        """Swap in a new ModelServerConfig, as TF Serving's ModelService does."""
        response = model_management_pb2.ReloadConfigResponse()
        try:
            with self.handler.track("grpc", "reload_config", ""):
                if self._reload is None:
                    raise ServingError("UNIMPLEMENTED", "config reload is not enabled")
                self._reload(request.config)
        except ServingError as err:
            response.status.error_code = _error_code(err.code)
            response.status.error_message = err.message
            _abort(context, err)
        return response


def _error_code(name: str) -> int:
    """tensorflow.error.Code uses the same numbers as gRPC status codes."""
    return _STATUS.get(name, grpc.StatusCode.UNKNOWN).value[0]


def add_to_server(
    server: grpc.Server,
    handler: RequestHandler,
    reload_config: Callable[[object], None] | None = None,
) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(handler), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(handler, reload_config), server
    )
