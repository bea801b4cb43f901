"""NVIDIA's tritonclient, unchanged, against our server (run by .venv-clients' Python).

    python triton_client.py http 127.0.0.1:8501 MODEL
    python triton_client.py grpc 127.0.0.1:8500 MODEL

Checks health, metadata, serving_default with binary and JSON tensors, a BYTES and a
UINT8 echo through ``signature_name``, a version label and an unknown model's error;
prints one JSON line of what it saw and exits 0, or raises (non-zero exit).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(kind: str, url: str, model: str) -> dict:
    if kind == "http":
        import tritonclient.http as client
    else:
        import tritonclient.grpc as client
    from tritonclient.utils import InferenceServerException

    c = client.InferenceServerClient(url=url)
    seen: dict = {
        "live": c.is_server_live(),
        "ready": c.is_server_ready(),
        "model_ready": c.is_model_ready(model),
        "version_ready": c.is_model_ready(model, "2"),
    }
    meta = c.get_model_metadata(model)
    meta = meta if isinstance(meta, dict) else {"inputs": [{"name": i.name} for i in meta.inputs]}
    seen["inputs"] = [i["name"] for i in meta["inputs"]]
    server = c.get_server_metadata()
    seen["extensions"] = list(
        server["extensions"] if isinstance(server, dict) else server.extensions
    )

    x = np.array([[1, 2, 3], [-1, -2, -3]], dtype=np.float32)
    for binary in (True, False):
        inp = client.InferInput("x", list(x.shape), "FP32")
        if kind == "http":
            inp.set_data_from_numpy(x, binary_data=binary)
            outputs = [
                client.InferRequestedOutput("doubled", binary_data=binary),
                client.InferRequestedOutput("label", binary_data=binary),
            ]
        else:
            inp.set_data_from_numpy(x)
            outputs = [client.InferRequestedOutput("doubled"), client.InferRequestedOutput("label")]
        result = c.infer(model, [inp], outputs=outputs, request_id="t1", model_version="stable")
        np.testing.assert_array_equal(result.as_numpy("doubled"), x * 2)
        labels = result.as_numpy("label").tolist()  # JSON BYTES come back as str
        seen[f"labels_binary_{binary}"] = [
            v.decode() if isinstance(v, bytes) else v for v in labels
        ]
        response = result.get_response()
        seen["version"] = (
            response["model_version"] if isinstance(response, dict) else response.model_version
        )

    texts = np.array([[b"cat", b"\xff\x00raw"]], dtype=np.object_)
    inp = client.InferInput("x", [1, 2], "BYTES")
    inp.set_data_from_numpy(texts)
    result = c.infer(model, [inp], parameters={"signature_name": "echo_BYTES"})
    seen["bytes_echo"] = result.as_numpy("y").tolist() == texts.tolist()

    pixels = np.array([[0, 128, 255]], dtype=np.uint8)
    inp = client.InferInput("x", [1, 3], "UINT8")
    inp.set_data_from_numpy(pixels)
    result = c.infer(model, [inp], parameters={"signature_name": "echo_UINT8"})
    seen["uint8_echo"] = result.as_numpy("y").tolist()

    try:
        c.infer("no-such-model", [inp])
    except InferenceServerException as exc:
        seen["unknown_model_error"] = str(exc.message())
    return seen


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
