"""An inference request and its answer as the Open Inference Protocol defines them,
independent of the wire: the REST codec and the gRPC servicer both decode into these and
encode from them, and :mod:`serving.oip.service` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving.errors import InvalidArgument

# Request parameters this server understands (others are accepted and ignored, as the
# protocol allows). ``signature_name`` picks a SignatureDef as TF Serving's does.
SIGNATURE_NAME = "signature_name"
BINARY_DATA = "binary_data"  # per requested output (REST binary extension)
BINARY_DATA_OUTPUT = "binary_data_output"  # request-wide default for the outputs
BINARY_DATA_SIZE = "binary_data_size"  # per input: its bytes in the binary section
CLASSIFICATION = "classification"  # Triton's top-k extension: not offered here


@dataclass
class InputTensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray


@dataclass
class RequestedOutput:
    name: str
    binary: bool | None = None  # None: the request's default


@dataclass
class InferRequest:
    model_name: str
    model_version: str | None
    inputs: list[InputTensor]
    outputs: list[RequestedOutput] = field(default_factory=list)
    id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def signature_name(self) -> str:
        """The SignatureDef asked for ("" for ``serving_default``)."""
        name = self.parameters.get(SIGNATURE_NAME, "")
        if not isinstance(name, str):
            raise InvalidArgument(f"parameter '{SIGNATURE_NAME}' must be a string, got {name!r}")
        return name

    def binary_output(self, name: str) -> bool:
        """Whether output ``name`` goes in the binary section (REST only)."""
        for out in self.outputs:
            if out.name == name and out.binary is not None:
                return out.binary
        default = self.parameters.get(BINARY_DATA_OUTPUT, False)
        return default if isinstance(default, bool) else False


@dataclass
class OutputTensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray


@dataclass
class InferResponse:
    model_name: str
    model_version: str
    outputs: list[OutputTensor]
    id: str | None = None


def check_parameters(parameters: object, where: str) -> dict[str, Any]:
    """A ``parameters`` object: string keys to bool / number / string values."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InvalidArgument(f"{where}: 'parameters' must be an object")
    for key, value in parameters.items():
        if not isinstance(value, (bool, int, float, str)):
            raise InvalidArgument(f"{where}: parameter '{key}' must be a boolean, number or string")
    if parameters.get(CLASSIFICATION):
        raise InvalidArgument(f"{where}: the 'classification' extension is not supported")
    return parameters
