"""In-test stand-ins for the model server (REST + gRPC, TF Serving's API and the Open
Inference Protocol's infer), recording which label or version each request asked for;
enough to test the router without TensorFlow models."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections import Counter
from concurrent import futures

import grpc
import numpy as np
from aiohttp import web
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from serving import defaults as serving_defaults
from serving.aio_thread import LoopThread
from serving.oip.protos import open_inference_pb2 as oip_pb
from serving.oip.protos import open_inference_pb2_grpc as oip_grpc

PATH = re.compile(
    r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|"
    r"/labels/(?P<label>[^/:]+))?(?P<verb>:[a-z]+)?$"
)
OIP_PATH = re.compile(
    r"^/v2/models/(?P<model>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<verb>/infer|/ready)?$"
)
HEADER_LENGTH = "Inference-Header-Content-Length"


class FakeModelServer:
    """Answers predict calls with class ``versions[label]`` (so the class says who served);
    labels listed in ``failing`` answer 500 / INTERNAL."""

    def __init__(
        self,
        versions: dict[str, int],
        failing: set[str] = frozenset(),
        grpc_credentials: grpc.ServerCredentials | None = None,
        rest_ssl: ssl.SSLContext | None = None,
    ) -> None:
        """``grpc_credentials``/``rest_ssl``: serve gRPC / REST over TLS (else plaintext)."""
        self.versions = dict(versions)
        self.failing = set(failing)
        self.grpc_credentials = grpc_credentials
        self.rest_ssl = rest_ssl
        self.rest_paths: Counter = Counter()
        self.grpc_specs: Counter = Counter()
        self._lock = threading.Lock()

    # REST ---------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        with self._lock:
            self.rest_paths[request.path] += 1
        if request.path.startswith("/v2"):
            return await self._handle_oip(request)
        match = PATH.match(request.path)
        if not match:
            return web.json_response({"error": "not found"}, status=404)
        if request.method == "GET":
            return web.json_response(
                {
                    "model_version_status": [
                        {"version": str(v), "state": "AVAILABLE"} for v in self.versions.values()
                    ]
                }
            )
        label = match["label"] or match["version"] or "default"
        if label in self.failing:
            return web.json_response({"error": "boom"}, status=500)
        version = int(match["version"] or self.versions.get(label, 0))
        n = len(json.loads(await request.read()).get("instances", [1]))
        one_hot = [float(c == version % 10) for c in range(10)]
        return web.json_response(
            {"predictions": [{"class_ids": version % 10, "probabilities": one_hot}] * n}
        )

    def _served_version(self, key: str) -> int:
        return self.versions.get(key, int(key) if key.isdigit() else 0)

    async def _handle_oip(self, request: web.Request) -> web.Response:
        """``/v2``: health and metadata answer 200; infer answers ``class_ids`` (INT64, as
        JSON data, or in the binary section when the request asks for binary outputs)."""
        match = OIP_PATH.match(request.path)
        if request.method == "GET":
            if request.path in ("/v2", "/v2/health/live", "/v2/health/ready") or match:
                return web.json_response({"name": "fake", "versions": ["1"]})
            return web.json_response({"error": "not found"}, status=404)
        if not match or match["verb"] != "/infer":
            return web.json_response({"error": "not found"}, status=404)
        key = match["version"] or "default"
        if key in self.failing:
            return web.json_response({"error": "boom"}, status=500)
        if key == "liar":  # a 200 whose binary header length points past the body
            return web.Response(body=b"{}", headers={HEADER_LENGTH: "999"})
        version = self._served_version(key)
        body = await request.read()
        length = request.headers.get(HEADER_LENGTH)
        doc = json.loads(body[: int(length)] if length else body)
        n = int(doc["inputs"][0]["shape"][0])
        ids = np.full(n, version % 10, np.int64)
        output: dict = {"name": "class_ids", "datatype": "INT64", "shape": [n]}
        binary = (doc.get("parameters") or {}).get("binary_data_output", False)
        if binary:
            output["parameters"] = {"binary_data_size": ids.nbytes}
        else:
            output["data"] = ids.tolist()
        header = json.dumps(
            {"model_name": match["model"], "model_version": str(version), "outputs": [output]}
        ).encode()
        if not binary:
            return web.Response(body=header, content_type="application/json")
        return web.Response(
            body=header + ids.tobytes(),
            headers={
                "Content-Type": "application/octet-stream",
                HEADER_LENGTH: str(len(header)),
            },
        )

    # gRPC ---------------------------------------------------------------------------------
    def _model_infer(self, request, context):
        key = request.model_version or "default"
        with self._lock:
            self.grpc_specs[f"oip:{key}"] += 1
        if key in self.failing:
            context.abort(grpc.StatusCode.INTERNAL, "boom")
        version = self._served_version(key)
        n = int(request.inputs[0].shape[0]) if request.inputs else 1
        response = oip_pb.ModelInferResponse(
            model_name=request.model_name, model_version=str(version)
        )
        response.outputs.add(name="class_ids", datatype="INT64", shape=[n])
        response.raw_output_contents.append(np.full(n, version % 10, np.int64).tobytes())
        return response

    def _predict(self, request, context):
        spec = request.model_spec
        key = spec.version_label or (
            str(spec.version.value) if spec.HasField("version") else "default"
        )
        with self._lock:
            self.grpc_specs[key] += 1
        if key in self.failing:
            context.abort(grpc.StatusCode.INTERNAL, "boom")
        version = self._served_version(key)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = version
        response.outputs["class_ids"].dtype = 9  # DT_INT64
        response.outputs["class_ids"].tensor_shape.dim.add().size = 1
        response.outputs["class_ids"].int64_val.append(version % 10)
        return response

    def start(self) -> FakeModelServer:
        self._rest = LoopThread("fake-model-server", self._start_rest, self._stop_rest)
        self._rest.start()
        servicer = prediction_service_pb2_grpc.PredictionServiceServicer()
        servicer.Predict = self._predict
        self._grpc = grpc.server(futures.ThreadPoolExecutor(4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, self._grpc)
        inference = oip_grpc.GRPCInferenceServiceServicer()
        inference.ModelInfer = self._model_infer
        oip_grpc.add_GRPCInferenceServiceServicer_to_server(inference, self._grpc)
        address = f"{serving_defaults.LOOPBACK}:0"
        self.grpc_port = (
            self._grpc.add_insecure_port(address)
            if self.grpc_credentials is None
            else self._grpc.add_secure_port(address, self.grpc_credentials)
        )
        self._grpc.start()
        return self

    async def _start_rest(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, serving_defaults.LOOPBACK, 0, ssl_context=self.rest_ssl)
        await site.start()
        self.rest_port = site._server.sockets[0].getsockname()[1]

    async def _stop_rest(self) -> None:
        await self._runner.cleanup()

    def stop(self) -> None:
        self._grpc.stop(None)
        self._rest.stop()

    @property
    def rest_url(self) -> str:
        scheme = "http" if self.rest_ssl is None else "https"
        return f"{scheme}://{serving_defaults.LOOPBACK}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{serving_defaults.LOOPBACK}:{self.grpc_port}"
