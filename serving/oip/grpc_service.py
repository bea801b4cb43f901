"""The Open Inference Protocol's ``inference.GRPCInferenceService``, on TF Serving's gRPC port.

The servicer base class and messages are generated from ``protos/open_inference.proto``
(the protocol's field numbers), so Triton's and KServe's gRPC clients call it unchanged.
Inputs come as typed ``contents`` or as ``raw_input_contents`` (one entry per input, in
input order); outputs always go back as ``raw_output_contents``, as Triton answers, which
every client of the protocol reads and which costs no per-element conversion.
Errors abort with the status code of the error (INVALID_ARGUMENT, NOT_FOUND...).
"""

from __future__ import annotations

from typing import Any

import grpc

from serving.data_plane import DataPlane
from serving.errors import InvalidArgument, ServingError
from serving.grpc_api import abort
from serving.oip import datatypes, service
from serving.oip.messages import (
    InferRequest,
    InferResponse,
    InputTensor,
    RequestedOutput,
    check_parameters,
)
from serving.oip.protos import open_inference_pb2 as pb
from serving.oip.protos import open_inference_pb2_grpc as pb_grpc

PROTOCOL = "grpc-oip"
SERVICE_NAME = "inference.GRPCInferenceService"
# The typed contents field of each datatype (FP16 and BF16 have none: raw only).
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def _parameters(params, where: str) -> dict[str, Any]:
    """An ``InferParameter`` map as plain values."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        which = value.WhichOneof("parameter_choice")
        if which is not None:
            out[key] = getattr(value, which)
    return check_parameters(out, where)


def decode_request(request: pb.ModelInferRequest) -> InferRequest:
    """The protocol-neutral request of a ``ModelInferRequest``."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgument(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs"
        )
    inputs = []
    for i, item in enumerate(request.inputs):
        dtype = datatypes.by_name(item.datatype, item.name)
        shape = datatypes.check_shape(list(item.shape), item.name, dtype)
        field = _CONTENTS_FIELD.get(dtype.name)
        has_contents = item.HasField("contents") and item.contents.ByteSize() > 0
        if raw:
            if has_contents:
                raise InvalidArgument(
                    f"tensor '{item.name}': contents and raw_input_contents are both given"
                )
            array = datatypes.from_raw(raw[i], item.name, dtype, shape)
        elif field is None:
            raise InvalidArgument(
                f"tensor '{item.name}': {dtype.name} data must come in raw_input_contents"
            )
        else:
            array = datatypes.from_values(
                list(getattr(item.contents, field)), item.name, dtype, shape
            )
        inputs.append(InputTensor(item.name, dtype.name, shape, array))
    outputs = [RequestedOutput(o.name) for o in request.outputs]
    return InferRequest(
        request.model_name,
        request.model_version or None,
        inputs,
        outputs,
        request.id or None,
        _parameters(request.parameters, "request"),
    )


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """Each method converts: request message -> :mod:`serving.oip.service` -> response."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def ServerLive(self, request, context):  # gRPC method names
        return pb.ServerLiveResponse(live=service.server_live())

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=service.server_ready(self.plane))

    def ModelReady(self, request, context):
        try:
            ready = service.model_ready(self.plane, request.name, request.version or None)
        except ServingError as err:
            abort(context, err)
        return pb.ModelReadyResponse(ready=ready)

    def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(**service.server_metadata())

    def ModelMetadata(self, request, context):
        try:
            doc = service.model_metadata(
                self.plane, PROTOCOL, request.name, request.version or None
            )
        except ServingError as err:
            abort(context, err)
        return pb.ModelMetadataResponse(
            name=doc["name"],
            versions=doc["versions"],
            platform=doc["platform"],
            inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in doc["inputs"]],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in doc["outputs"]],
        )

    def ModelInfer(self, request, context):
        try:
            _, answer = service.infer(
                self.plane, PROTOCOL, request.model_name, lambda: decode_request(request)
            )
        except ServingError as err:
            abort(context, err)
        return encode_response(answer)


def encode_response(answer: InferResponse) -> pb.ModelInferResponse:
    """The answer with every output as raw contents."""
    response = pb.ModelInferResponse(
        model_name=answer.model_name, model_version=answer.model_version
    )
    if answer.id is not None:
        response.id = answer.id
    for out in answer.outputs:
        response.outputs.add(name=out.name, datatype=out.datatype, shape=out.shape)
        response.raw_output_contents.append(datatypes.to_raw(out.array))
    return response


def add_to_server(server: grpc.Server, plane: DataPlane) -> None:
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(plane), server)
