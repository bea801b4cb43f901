"""The Open Inference Protocol (KServe v2), a third front end over the data plane.

* :mod:`~serving.oip.datatypes`: the protocol's datatypes and the value / raw tensor codecs;
* :mod:`~serving.oip.messages`: requests and answers, independent of the wire;
* :mod:`~serving.oip.service`: the operations (health, metadata, readiness, infer) over
  :class:`serving.data_plane.DataPlane`;
* :mod:`~serving.oip.rest_codec` and :mod:`~serving.oip.rest`: ``/v2`` on the REST port (JSON
  tensors and the binary tensor data extension);
* :mod:`~serving.oip.grpc_service`: ``inference.GRPCInferenceService`` on the gRPC port, from
  the generated modules in :mod:`serving.oip.protos`;
* ``openapi.yaml``: the REST API's OpenAPI document (the fuzz tests read it).

See the "Open Inference Protocol" section of docs/serving.md.
"""
