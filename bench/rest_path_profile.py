"""Where a v1 REST ``{"b64"}`` request's time goes besides the model, on the real path.

    .venv/bin/python -m bench.rest_path_profile [--model-dir DIR] [--batch 32] [--requests 500]

A model server runs in this process (as ``bench.bench_serving`` builds its model, or
``--model-dir``) with its request log on; a client in a subprocess posts the batch of PNGs
as ``bench.bench_serving`` does (prebuilt body, keep-alive ``http.client``, answer parsed
with orjson), one request at a time. Per request, three clocks:

* the client's round trip;
* the server's tracked time (the request log's ``latency_ms``: JSON parse, b64 decode,
  lease, signature lookup, the session call, the answer's JSON, on the pool thread);
* the session call alone, timed afterwards in this process on the same loaded version and
  inputs (the server's model work without the REST path).

Round trip - tracked is what the REST front end and the wire cost: the client sending the
body and parsing the answer, aiohttp reading and writing, the event loop -> pool thread ->
event loop hand-offs (and the request log's line, a few microseconds). Tracked - session
call is the server's Python work per request. Medians over ``--requests`` (after 20
warm-up requests).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

import numpy as np  # noqa: E402

from bench.bench_serving import build_reference_shaped, load_images  # noqa: E402
from models import features  # noqa: E402
from pipeline import configs  # noqa: E402
from serving.image_codec import encode_png  # noqa: E402
from serving.model_paths import model_url  # noqa: E402

WARMUP = 20

# The client, in its own process so it does not share the server's GIL. argv: port, path,
# body file, requests; prints the round trip of each request in seconds, as JSON.
_CLIENT = """
import http.client, json, sys, time
import orjson
port, path, body_file, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = open(body_file, "rb").read()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
headers = {"Content-Type": "application/json"}
times = []
for _ in range(n):
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    if resp.status != 200:
        raise SystemExit(f"REST {resp.status}: {payload[:200]!r}")
    orjson.loads(payload)
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def median_ms(values: list[float] | np.ndarray) -> float:
    return float(np.median(values)) * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", help="a SavedModel version dir (default: build one)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--requests", type=int, default=500)
    args = p.parse_args(argv)

    from serving import inference
    from serving.server import ModelServer

    work = Path(tempfile.mkdtemp(prefix="rest-path-"))
    model_dir = Path(args.model_dir or build_reference_shaped(work / "model" / "1"))
    base = work / configs.MODEL_NAME
    base.mkdir()
    (base / "1").symlink_to(model_dir.resolve(), target_is_directory=True)
    pngs = [encode_png(i) for i in load_images(args.batch)]
    body_file = work / "body.json"
    body_file.write_bytes(
        json.dumps(
            {
                "signature_name": features.SIGNATURE_IMAGE_BYTES,
                "instances": [{"b64": base64.b64encode(b).decode()} for b in pngs],
            }
        ).encode()
    )
    log = io.StringIO()
    server = ModelServer(
        model_name=configs.MODEL_NAME,
        model_base_path=base,
        grpc_port=None,
        rest_port=0,
        file_system_poll_seconds=0,
        request_log=log,
    ).start()
    total = WARMUP + args.requests
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _CLIENT,
                str(server.rest_port),
                model_url(configs.MODEL_NAME, verb="predict"),
                str(body_file),
                str(total),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"client failed: {done.stderr[-2000:]}")
        round_trips = np.array(json.loads(done.stdout)[WARMUP:])
        lines = [json.loads(line) for line in log.getvalue().splitlines()]
        tracked = np.array(
            [line["latency_ms"] / 1000 for line in lines if line["api"] == "predict"]
        )
        tracked = tracked[WARMUP:]
        if len(tracked) != len(round_trips):
            raise SystemExit(f"{len(round_trips)} round trips but {len(tracked)} log lines")
        servable = server.manager.acquire(configs.MODEL_NAME, None, None)
        try:
            sig = servable.signatures[features.SIGNATURE_IMAGE_BYTES]
            inputs = {features.INPUT_IMAGE_BYTES: np.array(pngs, dtype=object)}
            calls = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                inference.predict(servable, sig, inputs)
                calls.append(time.perf_counter() - t0)
        finally:
            servable.release()
    finally:
        server.stop()

    session = median_ms(calls)
    print(
        f"v1 REST b64, batch {args.batch}, one client, {body_file.stat().st_size:,} byte body, "
        f"medians of {args.requests} requests:\n"
        f"  client round trip                          {median_ms(round_trips):7.3f} ms\n"
        f"  server, tracked (request log latency_ms)   {median_ms(tracked):7.3f} ms\n"
        f"  session call alone (same inputs)           {session:7.3f} ms\n"
        f"  front end and wire (round trip - tracked)  "
        f"{median_ms(round_trips - tracked):7.3f} ms\n"
        f"  server Python work (tracked - session)     {median_ms(tracked) - session:7.3f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
