"""The Open Inference Protocol's operations over the data plane, protocol-neutral.

The REST and gRPC front ends decode their wire format into :mod:`serving.oip.messages`,
call one function here and encode the answer. A model's inputs and outputs are those of a
SignatureDef (``serving_default`` unless the request's ``signature_name`` parameter picks
another, as TF Serving's ``signature_name`` does); tensor names are the signature's
aliases. A model version is a TF Serving version number or, as an extension, a version
label (``/v2/models/m/versions/stable``), so the rollout's labels work here too.

Request inputs are checked against the signature before TensorFlow sees them: the input
names, the datatype (exactly the signature's, as the protocol expects) and the fixed
dimensions, each refused with a message that names the tensor and what the model wants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from serving.data_plane import DataPlane, ModelInfo, ModelRef, TensorInfo
from serving.errors import InvalidArgument, NotFound
from serving.inference import SignatureLookup
from serving.oip import datatypes
from serving.oip.messages import InferRequest, InferResponse, InputTensor, OutputTensor
from serving.signatures import Signature

SERVER_NAME = "tf-serving-compatible"
SERVER_VERSION = "2.16.1-compatible"
PLATFORM = "tensorflow_savedmodel"
EXTENSIONS = ("binary_tensor_data", "version_labels")
LOOKUP = SignatureLookup(InvalidArgument, 'signature "{key}" not found in the model')
_MAX_VERSION = 2**63 - 1


def model_ref(name: str, version: str | None) -> ModelRef:
    """A version string as TF Serving sees it: digits are a version, anything else a label."""
    if not name:
        raise InvalidArgument("the model name is empty")
    if not version:
        return ModelRef(name)
    if version.isdigit():
        number = int(version)
        if number > _MAX_VERSION:
            raise NotFound(f"model '{name}' has no version {version}")
        return ModelRef(name, number)
    return ModelRef(name, label=version)


def server_metadata() -> dict:
    return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)}


def server_live() -> bool:
    """The process answers: it can take metadata and inference requests."""
    return True


def server_ready(plane: DataPlane) -> bool:
    """Ready when some model has an AVAILABLE version (as ``/healthz``)."""
    return plane.any_ready()


def model_ready(plane: DataPlane, name: str, version: str | None) -> bool:
    """Whether the version resolves to an AVAILABLE one; NOT_FOUND for an unknown model."""
    plane.require_model(name)
    return plane.ready(model_ref(name, version))


def model_metadata(plane: DataPlane, protocol: str, name: str, version: str | None) -> dict:
    """The protocol's model metadata: versions, platform, ``serving_default``'s tensors."""
    ref = model_ref(name, version)
    with plane.track(protocol, "metadata", name) as t:
        info: ModelInfo = plane.model_info(t, ref)
    return {
        "name": info.name,
        "versions": [str(v) for v in info.versions],
        "platform": PLATFORM,
        "inputs": [_tensor_metadata(s) for s in info.inputs],
        "outputs": [_tensor_metadata(s) for s in info.outputs],
    }


def _tensor_metadata(info: TensorInfo) -> dict:
    found = datatypes.for_numpy(info.dtype)
    return {
        "name": info.name,
        "datatype": found.name if found else datatypes.BYTES,
        "shape": [-1] if info.shape is None else [-1 if d is None else d for d in info.shape],
    }


def infer(
    plane: DataPlane, protocol: str, model_name: str, decode: Callable[[], InferRequest]
) -> tuple[InferRequest, InferResponse]:
    """Decode the request (inside the tracked call, so a bad body is counted too) and run
    its signature on the version it names; the request comes back for the encoder."""
    with plane.track(protocol, "infer", model_name) as t:
        request = decode()
        ref = model_ref(request.model_name, request.model_version)
        wanted = [o.name for o in request.outputs]
        prediction = plane.predict(
            t,
            ref,
            request.signature_name,
            lambda sig: signature_inputs(sig, request.inputs),
            output_filter=wanted,
            lookup=LOOKUP,
        )
        outputs = []
        for name in wanted or sorted(prediction.outputs):
            array = prediction.outputs[name]
            dtype = datatypes.for_array(array)
            outputs.append(OutputTensor(name, dtype.name, tuple(array.shape), array))
    return request, InferResponse(model_name, str(prediction.version), outputs, request.id)


def signature_inputs(sig: Signature, inputs: Sequence[InputTensor]) -> Mapping[str, np.ndarray]:
    """Alias -> array, each input checked against the signature's name, datatype, shape."""
    arrays: dict[str, np.ndarray] = {}
    for tensor in inputs:
        spec = sig.inputs.get(tensor.name)
        if spec is None:
            raise InvalidArgument(
                f"unknown input '{tensor.name}': signature '{sig.name}' takes "
                f"{', '.join(sorted(sig.inputs)) or 'no inputs'}"
            )
        if tensor.name in arrays:
            raise InvalidArgument(f"input '{tensor.name}' is given twice")
        expected = datatypes.for_numpy(spec.np_dtype)
        if expected is not None and expected.name != tensor.datatype:
            raise InvalidArgument(
                f"input '{tensor.name}' has datatype {tensor.datatype}, signature "
                f"'{sig.name}' expects {expected.name}"
            )
        if spec.shape is not None and not _fits(tensor.shape, spec.shape):
            model_shape = [-1 if d is None else d for d in spec.shape]
            raise InvalidArgument(
                f"input '{tensor.name}' has shape {list(tensor.shape)}, signature "
                f"'{sig.name}' expects {model_shape}"
            )
        arrays[tensor.name] = tensor.array
    return arrays


def _fits(shape: Sequence[int], model_shape: Sequence[int | None]) -> bool:
    return len(shape) == len(model_shape) and all(
        want is None or want == got for got, want in zip(shape, model_shape, strict=True)
    )
