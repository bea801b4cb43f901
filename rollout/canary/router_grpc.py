"""The canary router's gRPC front: TF Serving's ``Predict`` and the Open Inference
Protocol's ``ModelInfer`` get a version label by the rollout weight (unless the request
pins a version or label); every other method (status, metadata, health, ...) is forwarded
as raw bytes. Both protocols are measured per version, with a ``protocol`` label.

A call the router chose for the canary that fails with ``NOT_FOUND`` or ``UNAVAILABLE`` (the
canary version not loaded, or its server gone) or with the server's unknown-label
``INVALID_ARGUMENT`` (the label just dropped) is counted as a canary failure and sent
again with the ``stable`` label, as the REST front does (rollout/canary/router.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

from rollout import settings as rollout_settings
from rollout.canary import oip_payloads, payloads
from rollout.drift.payloads import probabilities_from_grpc, probabilities_from_oip
from rollout.drift.sampler import Sample

if TYPE_CHECKING:
    from rollout.canary.router import Router

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
MODEL_INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
PROTOCOL_TF_SERVING = "grpc"  # the protocol label, as the model server's metrics name it
PROTOCOL_OIP = "grpc-oip"
CANARY_GONE_CODES = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE})
# The model server's message for a label it no longer has (INVALID_ARGUMENT, REST 400): the
# canary label dropped by a rollback or promotion just before the router re-read the state.
UNKNOWN_LABEL = "Unrecognized servable version label"


class GrpcProxy(grpc.GenericRpcHandler):
    """Predict and ModelInfer get a label; every other method is forwarded as raw bytes."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def service(self, details: grpc.HandlerCallDetails):
        if details.method == PREDICT_METHOD:
            from tensorflow_serving.apis import predict_pb2

            return grpc.unary_unary_rpc_method_handler(
                self._predict,
                request_deserializer=predict_pb2.PredictRequest.FromString,
                response_serializer=predict_pb2.PredictResponse.SerializeToString,
            )
        if details.method == MODEL_INFER_METHOD:
            from serving.oip.protos import open_inference_pb2 as pb

            return grpc.unary_unary_rpc_method_handler(
                self._model_infer,
                request_deserializer=pb.ModelInferRequest.FromString,
                response_serializer=pb.ModelInferResponse.SerializeToString,
            )
        return grpc.unary_unary_rpc_method_handler(self._passthrough(details.method))

    def _passthrough(self, method: str):
        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            stub = self.router._channel.unary_unary(method)
            try:
                return await stub(
                    request,
                    metadata=forwardable(context),
                    timeout=self.router.policy.router.upstream_timeout_seconds,
                )
            except grpc.aio.AioRpcError as e:
                await context.abort(e.code(), e.details() or "")

        return call

    def _client_key(self, context: grpc.aio.ServicerContext) -> str | None:
        return dict(context.invocation_metadata() or ()).get(rollout_settings.CLIENT_KEY_HEADER)

    async def _call(
        self,
        method: str,
        request: Any,
        response_type: Any,
        context: grpc.aio.ServicerContext,
        ours: bool,
        label: str,
        version: int | None,
        protocol: str,
        relabel: Callable[[str], None] | None = None,
    ) -> tuple[Any, float, str, int | None]:
        """Forward one labelled call; a failure is counted (when ours) and re-raised as the
        upstream's status. ``relabel`` (for calls the router labelled itself) lets a canary
        that cannot serve be replaced by stable. Returns the response, when the call
        started, and the label and version that answered."""
        router = self.router
        started = time.perf_counter()
        stub = router._channel.unary_unary(
            method,
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString,
        )
        try:
            response = await stub(
                request,
                metadata=forwardable(context),
                timeout=router.policy.router.upstream_timeout_seconds,
            )
        except grpc.aio.AioRpcError as e:
            if ours:
                router.metrics.observe(
                    router.model_name,
                    version,
                    label,
                    time.perf_counter() - started,
                    False,
                    e.code().name,
                    [],
                    protocol=protocol,
                )
            gone = e.code() in CANARY_GONE_CODES or (
                e.code() == grpc.StatusCode.INVALID_ARGUMENT
                and UNKNOWN_LABEL in (e.details() or "")
            )
            if relabel is not None and label == rollout_settings.CANARY_LABEL and gone:
                stable = rollout_settings.STABLE_LABEL
                relabel(stable)
                return await self._call(
                    method,
                    request,
                    response_type,
                    context,
                    ours,
                    stable,
                    router.split().version_of(stable),
                    protocol,
                )
            await context.abort(e.code(), e.details() or "")
        return response, started, label, version

    async def _predict(self, request, context: grpc.aio.ServicerContext):
        from tensorflow_serving.apis import predict_pb2

        router = self.router
        spec = request.model_spec
        split = router.split()
        ours = spec.name == router.model_name
        chosen = False  # the router picks the label (not the client)
        if not ours:
            label, version = "other", None
        elif spec.HasField("version"):
            version = spec.version.value
            label = split.label_of(version)
        elif spec.version_label:
            label, version = spec.version_label, split.version_of(spec.version_label)
        else:
            label = router._choose(split, self._client_key(context))
            version = split.version_of(label)
            spec.version_label = label
            chosen = True
        response, started, label, version = await self._call(
            PREDICT_METHOD,
            request,
            predict_pb2.PredictResponse,
            context,
            ours,
            label,
            version,
            PROTOCOL_TF_SERVING,
            relabel=(lambda new: setattr(spec, "version_label", new)) if chosen else None,
        )
        if ours:
            if response.model_spec.HasField("version"):
                version = response.model_spec.version.value
            await self._answered(
                context,
                started,
                label,
                version,
                PROTOCOL_TF_SERVING,
                payloads.classes_from_grpc(response),
                Sample(
                    lambda: payloads.images_from_grpc(request),
                    lambda: probabilities_from_grpc(response),
                    version,
                ),
            )
        return response

    async def _model_infer(self, request, context: grpc.aio.ServicerContext):
        """ModelInfer: an empty ``model_version`` gets the label (the model server takes a
        label as the version, an extension of the protocol); a pinned one is kept."""
        from serving.oip.protos import open_inference_pb2 as pb

        router = self.router
        split = router.split()
        ours = request.model_name == router.model_name
        pinned = request.model_version
        if not ours:
            label, version = "other", None
        elif pinned.isdigit():
            version = int(pinned)
            label = split.label_of(version)
        elif pinned:
            label, version = pinned, split.version_of(pinned)
        else:
            label = router._choose(split, self._client_key(context))
            version = split.version_of(label)
            request.model_version = label
        chosen = ours and not pinned
        response, started, label, version = await self._call(
            MODEL_INFER_METHOD,
            request,
            pb.ModelInferResponse,
            context,
            ours,
            label,
            version,
            PROTOCOL_OIP,
            relabel=(lambda new: setattr(request, "model_version", new)) if chosen else None,
        )
        if ours:
            if response.model_version.isdigit():
                version = int(response.model_version)
            outputs = oip_payloads.outputs_from_grpc(response)
            await self._answered(
                context,
                started,
                label,
                version,
                PROTOCOL_OIP,
                oip_payloads.classes(outputs),
                Sample(
                    lambda: oip_payloads.images_from_grpc(request),
                    lambda: probabilities_from_oip(outputs),
                    version,
                ),
            )
        return response

    async def _answered(
        self,
        context: grpc.aio.ServicerContext,
        started: float,
        label: str,
        version: int | None,
        protocol: str,
        classes: Any,
        sample: Sample,
    ) -> None:
        """What follows a model answer of ours, for either protocol: count it with its
        classes, offer it to the drift sampler, tell the client which label served it."""
        router = self.router
        router.metrics.observe(
            router.model_name,
            version,
            label,
            time.perf_counter() - started,
            True,
            "OK",
            classes,
            protocol=protocol,
        )
        router._sample_drift(sample)
        await context.send_initial_metadata(((rollout_settings.SERVED_LABEL_HEADER, label),))


def forwardable(context: grpc.aio.ServicerContext) -> tuple[tuple[str, str], ...]:
    """The caller's metadata minus what gRPC sets per hop."""
    return tuple(
        (k, v)
        for k, v in (context.invocation_metadata() or ())
        if not k.startswith(":") and k not in ("user-agent", "content-type", "te")
    )
