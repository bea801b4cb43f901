"""KServe's own Python clients, unchanged, against our server (run by .venv-clients' Python).

    python kserve_client.py rest http://127.0.0.1:8501 MODEL
    python kserve_client.py grpc 127.0.0.1:8500 MODEL

``InferenceRESTClient`` (protocol v2) or ``InferenceGRPCClient``: health, model readiness,
serving_default with binary and JSON tensors, a BYTES echo through ``signature_name``;
prints one JSON line of what it saw and exits 0, or raises (non-zero exit).
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np


async def main(kind: str, url: str, model: str) -> dict:
    from kserve import (
        InferenceGRPCClient,
        InferenceRESTClient,
        InferInput,
        InferRequest,
        RESTConfig,
    )

    seen: dict = {}
    if kind == "rest":
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
        seen["live"] = await client.is_server_live(url)
        seen["ready"] = await client.is_server_ready(url)
        seen["model_ready"] = await client.is_model_ready(url, model)
        seen["unknown_model_ready"] = await client.is_model_ready(url, "no-such-model")

        async def infer(request):
            return await client.infer(url, request, model_name=model)

    else:
        client = InferenceGRPCClient(url=url, timeout=30, retries=2)
        seen["live"] = await client.is_server_live()
        seen["ready"] = await client.is_server_ready()
        seen["model_ready"] = await client.is_model_ready(model)

        async def infer(request):
            return await client.infer(request)

    x = np.array([[1, 2, 3], [-1, -2, -3]], dtype=np.float32)
    for binary in (True, False):
        inp = InferInput(name="x", shape=list(x.shape), datatype="FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        request = InferRequest(model_name=model, infer_inputs=[inp], request_id="k1")
        response = await infer(request)
        outputs = {o.name: o.as_numpy() for o in response.outputs}
        np.testing.assert_array_equal(outputs["doubled"], x * 2)
        labels = [v.decode() if isinstance(v, bytes) else v for v in outputs["label"].tolist()]
        seen[f"labels_binary_{binary}"] = labels
        seen["id"] = response.id

    texts = np.array([["cat", "dog"]], dtype=np.object_)
    inp = InferInput(name="x", shape=[1, 2], datatype="BYTES")
    inp.set_data_from_numpy(texts, binary_data=False)
    request = InferRequest(
        model_name=model, infer_inputs=[inp], parameters={"signature_name": "echo_BYTES"}
    )
    response = await infer(request)
    echoed = response.outputs[0].as_numpy().tolist()
    seen["bytes_echo"] = [
        [v.decode() if isinstance(v, bytes) else v for v in row] for row in echoed
    ]
    await client.close()
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))
