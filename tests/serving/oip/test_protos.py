"""The checked-in generated modules match open_inference.proto, and its field numbers
are the protocol's (the numbers Triton's and KServe's clients send)."""

from __future__ import annotations

import re

from serving.oip.protos import open_inference_pb2 as pb
from serving.oip.protos import regenerate


def test_generated_modules_were_made_from_this_proto():
    stamp = regenerate.STAMP.read_text().strip()
    assert stamp == regenerate.proto_digest(), (
        "open_inference.proto changed since the Python modules were generated: "
        "run serving/oip/protos/regenerate.py (see its docstring)"
    )


def _messages(descriptor):
    """Every declared message, nested ones too (not the entries protoc makes for maps)."""
    for message in descriptor.message_types_by_name.values():
        yield message
        yield from (m for m in message.nested_types if not m.GetOptions().map_entry)


def test_every_generated_field_is_declared_in_the_proto_with_its_number():
    text = regenerate.PROTO.read_text()
    declared = set(re.findall(r"\b(\w+) = (\d+);", text))
    for message in _messages(pb.DESCRIPTOR):
        for field in message.fields:
            assert (field.name, str(field.number)) in declared, f"{message.name}.{field.name}"


def test_protocol_field_numbers():
    request = pb.ModelInferRequest.DESCRIPTOR.fields_by_name
    assert {n: f.number for n, f in request.items()} == {
        "model_name": 1,
        "model_version": 2,
        "id": 3,
        "parameters": 4,
        "inputs": 5,
        "outputs": 6,
        "raw_input_contents": 7,
    }
    assert pb.ModelInferResponse.DESCRIPTOR.fields_by_name["raw_output_contents"].number == 6
    contents = pb.InferTensorContents.DESCRIPTOR.fields_by_name
    assert contents["fp32_contents"].number == 6 and contents["bytes_contents"].number == 8
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
    assert {m.name for m in service.methods} == {
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
    }
