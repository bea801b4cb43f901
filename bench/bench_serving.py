"""Serving overhead benchmark: the same model and images through (a) an in-process call of
the SavedModel signature, (b) gRPC Predict, (c) REST :predict of ``cifar10-serve``, and
(d) the Open Inference Protocol's ``/v2/.../infer`` with binary tensors and its gRPC
``ModelInfer`` with raw contents.

    .venv/bin/python -m bench.bench_serving [--model-dir DIR] [--duration 2] [--rounds 5]

Model: ``--model-dir`` if given, else the newest pipeline-pushed version under
configs.serving_root(DEFAULT_OUTPUT_ROOT) if there is one, else an untrained model of the
reference CNN's shape with the same signatures. The server runs in its own process (as in
production), the clients in this one. The machine is shared, so each row is measured against
its raw call in pairs of back-to-back slices (order alternating); ÷raw is the median of the
pairs' ratios (a busy neighbour slows both halves of a pair, so the ratio stays put where
absolute figures move), images/s the row's best slice. Request bodies are built once,
outside the timed loop: the numbers measure the server and the wire, not client-side
encoding. Each row is compared with the raw call of the same signature at the same batch
size and concurrency: ``serving_images`` (uint8 tensor) for gRPC, REST-uint8 and both OIP
rows, ``serving_image_bytes`` (PNG bytes) for REST-b64.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

import numpy as np  # noqa: E402

from ingest import settings as ingest_settings  # noqa: E402
from models import features  # noqa: E402
from models.dataset import CIFAR10, DatasetDescription, from_model  # noqa: E402
from pipeline import configs  # noqa: E402
from serving import defaults as serving_defaults  # noqa: E402
from serving.image_codec import encode_png  # noqa: E402
from serving.model_paths import list_versions, model_url  # noqa: E402


@dataclass
class Result:
    mode: str
    batch: int
    clients: int
    images_per_s: float
    p50_ms: float
    p99_ms: float
    raw_key: str
    ratio: float = 1.0  # median over pairs of (this row / its raw call), back to back
    cpu_ms_per_image: float = 0.0  # CPU of this process + the server's, per image
    cpu_ratio: float = 1.0  # raw call's CPU per image / this row's (load-insensitive)


def find_model(explicit: str | None) -> tuple[Path, str]:
    """``--model-dir`` when given, else the newest pipeline-pushed version, else a CNN of
    the reference shape built here."""
    if explicit:
        return Path(explicit), f"--model-dir {explicit}"
    base = configs.serving_root(configs.DEFAULT_OUTPUT_ROOT) / configs.MODEL_NAME
    versions = list_versions(base)
    if versions:
        v = max(versions)
        return versions[v], f"pipeline-made, {versions[v]}"
    return build_reference_shaped(
        Path(tempfile.mkdtemp(prefix="bench-model-")) / "1"
    ), "untrained reference CNN (no pipeline model found)"


def build_reference_shaped(path: Path) -> Path:
    """The reference CNN (untrained) behind the pipeline's three signatures, minus Transform
    (PNG decode and /255 stand in for it)."""
    import tensorflow as tf

    from models.model import build_model

    model = build_model()  # CIFAR-10's reference CNN
    names = tf.constant(CIFAR10.class_names)

    def predict_encoded(encoded):
        images = tf.map_fn(
            lambda b: tf.reshape(tf.io.decode_png(b, channels=3), CIFAR10.image_shape),
            encoded,
            fn_output_signature=tf.uint8,
        )
        probs = model(tf.cast(images, tf.float32) / 255.0, training=False)
        ids = tf.argmax(probs, axis=-1)
        return {
            features.OUTPUT_PROBABILITIES: probs,
            features.OUTPUT_CLASS_IDS: ids,
            features.OUTPUT_CLASSES: tf.gather(names, ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_EXAMPLES)])
    def serve_examples(examples):
        parsed = tf.io.parse_example(
            examples, {features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
        )
        return predict_encoded(parsed[features.IMAGE_KEY])

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *CIFAR10.image_shape], tf.uint8, name=features.INPUT_IMAGES)
        ]
    )
    def serve_images(images):
        return predict_encoded(tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string))

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_IMAGE_BYTES)]
    )
    def serve_image_bytes(image_bytes):
        return predict_encoded(image_bytes)

    model.save(
        str(path),
        save_format="tf",
        signatures={
            features.SIGNATURE_EXAMPLES: serve_examples.get_concrete_function(),
            features.SIGNATURE_IMAGES: serve_images.get_concrete_function(),
            features.SIGNATURE_IMAGE_BYTES: serve_image_bytes.get_concrete_function(),
        },
    )
    return path


def load_images(n: int, description: DatasetDescription = CIFAR10) -> np.ndarray:
    """``n`` images at the served model's input shape: CIFAR-10's test images for a CIFAR
    model (when the subset is here), else random pixels of its shape."""
    cifar_test = ingest_settings.SHARED_DATA_ROOT / ingest_settings.TEST_BATCH
    if description.image_shape == CIFAR10.image_shape and cifar_test.is_file():
        from ingest import cifar10

        return cifar10.load_test(ingest_settings.SHARED_DATA_ROOT).images[:n]
    return np.random.default_rng(0).integers(0, 256, (n, *description.image_shape), np.uint8)


def drive(
    call: Callable[[], None], clients: int, duration: float, warmup: int = 3
) -> tuple[int, float, list[float]]:
    """Run ``call`` from ``clients`` threads for ``duration`` s; (calls, seconds, latencies).

    Every client makes at least one call: a thread the machine starves past the deadline
    would otherwise make none, and a short run would report 0 images/s."""
    for _ in range(warmup):
        call()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(lat: list[float]) -> None:
        start_gate.wait()
        while True:
            t0 = time.perf_counter()
            call()
            done = time.perf_counter()
            lat.append(done - t0)
            if done >= deadline[0]:
                return

    threads = [threading.Thread(target=worker, args=(lat,)) for lat in latencies]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + duration
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = [x for lat in latencies for x in lat]
    return len(flat), elapsed, flat


def grpc_caller(target: str, request) -> Callable[[], None]:
    """Predict over one channel per client thread (as separate client processes would)."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    local = threading.local()

    def call() -> None:
        stub = getattr(local, "stub", None)
        if stub is None:
            stub = local.stub = prediction_service_pb2_grpc.PredictionServiceStub(
                grpc.insecure_channel(target)
            )
        stub.Predict(request, timeout=60)

    return call


def rest_caller(url: str, body: bytes) -> Callable[[], None]:
    """POST a prebuilt JSON body over a keep-alive connection per client thread (plain
    ``http.client``: far less client overhead than ``requests``), parse the answer.

    The answer is parsed with orjson, as the server parses requests: the gRPC client's
    protobuf parse is C++, and the stdlib's JSON parser (several times slower than orjson)
    would add client-side time to the REST rows only."""
    import http.client
    from urllib.parse import urlsplit

    import orjson

    local = threading.local()
    where = urlsplit(url)
    path = model_url(configs.MODEL_NAME, verb="predict")
    headers = {"Content-Type": "application/json"}

    def call() -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"REST {resp.status}: {payload[:200]!r}")
        orjson.loads(payload)

    return call


def oip_rest_body(images: np.ndarray, signature: str) -> tuple[bytes, str]:
    """An OIP infer body: JSON header + the images as one binary UINT8 tensor, outputs
    asked for in binary too (the protocol's binary tensor data extension)."""
    raw = np.ascontiguousarray(images).tobytes()
    header = json.dumps(
        {
            "parameters": {"signature_name": signature, "binary_data_output": True},
            "inputs": [
                {
                    "name": features.INPUT_IMAGES,
                    "datatype": "UINT8",
                    "shape": list(images.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
        }
    ).encode()
    return header + raw, str(len(header))


def oip_rest_caller(url: str, body: bytes, header_length: str) -> Callable[[], None]:
    """POST a prebuilt OIP binary body over a keep-alive connection per client thread;
    read the answer's JSON header (the binary outputs follow it; parsed as the v1 REST
    answers are, with orjson)."""
    import http.client
    from urllib.parse import urlsplit

    import orjson

    local = threading.local()
    where = urlsplit(url)
    path = f"/v2/models/{configs.MODEL_NAME}/infer"
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": header_length,
    }

    def call() -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"OIP REST {resp.status}: {payload[:200]!r}")
        length = int(resp.getheader("Inference-Header-Content-Length") or len(payload))
        orjson.loads(payload[:length])

    return call


def oip_grpc_caller(target: str, images: np.ndarray, signature: str) -> Callable[[], None]:
    """ModelInfer with the images as raw_input_contents, one channel per client thread."""
    import grpc

    from serving.oip.protos import open_inference_pb2, open_inference_pb2_grpc

    request = open_inference_pb2.ModelInferRequest(model_name=configs.MODEL_NAME)
    request.parameters["signature_name"].string_param = signature
    request.inputs.add(name=features.INPUT_IMAGES, datatype="UINT8", shape=list(images.shape))
    request.raw_input_contents.append(np.ascontiguousarray(images).tobytes())
    local = threading.local()

    def call() -> None:
        stub = getattr(local, "stub", None)
        if stub is None:
            stub = local.stub = open_inference_pb2_grpc.GRPCInferenceServiceStub(
                grpc.insecure_channel(target)
            )
        stub.ModelInfer(request, timeout=60)

    return call


def transport_floor(rest_url: str, grpc_target: str, calls: int = 300) -> str:
    """p50 round trip of requests that do no model work (OIP health over REST and gRPC):
    the fixed cost every row above pays on top of its model call."""
    import http.client
    from urllib.parse import urlsplit

    import grpc

    from serving.oip.protos import open_inference_pb2, open_inference_pb2_grpc

    where = urlsplit(rest_url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)

    def rest() -> None:
        conn.request("GET", "/v2/health/live")
        conn.getresponse().read()

    stub = open_inference_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(grpc_target))

    def grpc_live() -> None:
        stub.ServerLive(open_inference_pb2.ServerLiveRequest(), timeout=60)

    p50 = {}
    for name, call in (("REST", rest), ("gRPC", grpc_live)):
        for _ in range(20):  # warm up the connection
            call()
        lat = []
        for _ in range(calls):
            t0 = time.perf_counter()
            call()
            lat.append(time.perf_counter() - t0)
        p50[name] = float(np.median(lat)) * 1000
    conn.close()
    return (
        f"transport floor (p50 of {calls} requests without model work): "
        f"REST {p50['REST']:.2f} ms, gRPC {p50['gRPC']:.2f} ms"
    )


def batch_sizes(rest_url: str) -> str:
    """How many rows the batching server merged per model call (from its own metrics)."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(rest_url + serving_defaults.PROMETHEUS_PATH, timeout=30).text
    total = calls = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "model_server_model_call_batch_size_sum":
                total += sample.value
            elif sample.name == "model_server_model_call_batch_size_count":
                calls += sample.value
    return (
        f"batching server: {calls:.0f} model calls, {total / max(calls, 1):.2f} rows per "
        "call on average (timeout 0, one batch thread, max 64)"
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(base: Path, extra: list[str]) -> tuple[subprocess.Popen, str, str]:
    """``python -m serving`` with TF Serving flags (metrics on, for the batching note)."""
    monitoring = base.parent / "monitoring.config"
    monitoring.write_text(
        f'prometheus_config {{ enable: true path: "{serving_defaults.PROMETHEUS_PATH}" }}'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving",
            f"--model_name={configs.MODEL_NAME}",
            f"--model_base_path={base}",
            f"--port={_free_port()}",
            "--host=127.0.0.1",
            f"--rest_api_port={_free_port()}",
            "--file_system_poll_wait_seconds=0",
            f"--monitoring_config_file={monitoring}",
            "--log_level=WARNING",
            *extra,
        ],
        cwd=configs.REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    m = re.search(r"gRPC at ([^,\s]+), REST at ([^,;\s]+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, m.group(1), m.group(2)


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of this process, plus process ``pid``'s when given."""
    t = os.times()
    total = t.user + t.system
    if pid is not None:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure_paired(
    modes: list[tuple[str, str, Callable[[], None]]],
    batch: int,
    clients: int,
    pairs: int,
    duration: float,
    server_pids: dict[str, int] | None = None,
) -> list[Result]:
    """Each row measured against its raw call in ``pairs`` back-to-back pairs (order
    alternating, so a drifting load favours neither): the ratio is the median of the pairs'
    ratios, images/s and latencies the row's best slice. CPU seconds per image (this process
    and, for server rows, the server's) give a second ratio that other processes' load
    hardly moves."""
    calls = dict((mode, call) for mode, _, call in modes)
    best: dict[str, Result] = {}
    ratios: dict[str, list[float]] = {mode: [] for mode, _, _ in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode, _, _ in modes}

    def measure(mode: str, raw_key: str) -> float:
        pid = (server_pids or {}).get(mode)
        before = cpu_seconds(pid)
        n, secs, lat = drive(calls[mode], clients, duration)
        cpu[mode].append((cpu_seconds(pid) - before) * 1000 / max(n * batch, 1))
        q = np.percentile(np.array(lat) * 1000, [50, 99])
        r = Result(mode, batch, clients, n * batch / secs, float(q[0]), float(q[1]), raw_key)
        if mode not in best or r.images_per_s > best[mode].images_per_s:
            best[mode] = r
        return r.images_per_s

    for mode, raw_key, _ in modes:
        if mode == raw_key:
            continue
        for i in range(pairs):
            order = [raw_key, mode] if i % 2 == 0 else [mode, raw_key]
            ips = {m: measure(m, raw_key if m == mode else m) for m in order}
            ratios[mode].append(ips[mode] / ips[raw_key])
        print(
            f"  {mode:<22} batch {batch:>2} clients {clients}: "
            f"{best[mode].images_per_s:8.1f} img/s, ÷raw per pair "
            + " ".join(f"{x:.2f}" for x in ratios[mode]),
            flush=True,
        )
    out = []
    for mode, raw_key, _ in modes:
        if ratios[mode]:
            best[mode].ratio = float(np.median(ratios[mode]))
        best[mode].cpu_ms_per_image = float(np.median(cpu[mode]))
        best[mode].cpu_ratio = float(np.median(cpu[raw_key]) / np.median(cpu[mode]))
        out.append(best[mode])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", help="a SavedModel version dir (if no pipeline model exists)")
    p.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    p.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="pairs (raw call, row) per row: best images/s, median of the pairs' ratios",
    )
    p.add_argument("--clients", type=int, default=4, help="concurrent clients")
    p.add_argument("--batches", default="1,32")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    model_dir, origin = find_model(args.model_dir)
    print(f"model: {origin}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    if model_dir.parent.name.startswith("bench-model-"):  # built here: remove it too
        atexit.register(shutil.rmtree, model_dir.parent, ignore_errors=True)
    base = work / configs.MODEL_NAME
    base.mkdir()
    (base / "1").symlink_to(model_dir.resolve(), target_is_directory=True)
    batches = [int(b) for b in args.batches.split(",")]
    images = load_images(max(batches), from_model(model_dir))
    pngs = [encode_png(i) for i in images]

    loaded = tf.saved_model.load(str(model_dir))
    sig_images = loaded.signatures[features.SIGNATURE_IMAGES]
    sig_bytes = loaded.signatures[features.SIGNATURE_IMAGE_BYTES]

    params = work / "batching.config"
    params.write_text(
        "max_batch_size { value: 64 } batch_timeout_micros { value: 0 } "
        "num_batch_threads { value: 1 }"
    )
    servers = {
        "plain": start_server(base, []),
        "batching": start_server(
            base, ["--enable_batching", f"--batching_parameters_file={params}"]
        ),
    }
    results: list[Result] = []
    try:
        for batch in batches:
            imgs = images[:batch]
            uint8 = tf.constant(imgs)
            encoded = tf.constant(np.array(pngs[:batch], dtype=object))
            grpc_req = predict_pb2.PredictRequest()
            grpc_req.model_spec.name = configs.MODEL_NAME
            grpc_req.model_spec.signature_name = features.SIGNATURE_IMAGES
            grpc_req.inputs[features.INPUT_IMAGES].CopyFrom(tf.make_tensor_proto(imgs))
            rest_uint8 = json.dumps(
                {"signature_name": features.SIGNATURE_IMAGES, "inputs": imgs.tolist()}
            ).encode()
            rest_b64 = json.dumps(
                {
                    "signature_name": features.SIGNATURE_IMAGE_BYTES,
                    "instances": [{"b64": base64.b64encode(b).decode()} for b in pngs[:batch]],
                }
            ).encode()
            oip_body, oip_header_length = oip_rest_body(imgs, features.SIGNATURE_IMAGES)
            for clients in sorted({1, args.clients}):
                modes = [
                    ("raw uint8", "raw uint8", partial(sig_images, images=uint8)),
                    ("raw png", "raw png", partial(sig_bytes, image_bytes=encoded)),
                    ("gRPC uint8", "raw uint8", grpc_caller(servers["plain"][1], grpc_req)),
                    ("REST b64 png", "raw png", rest_caller(servers["plain"][2], rest_b64)),
                    ("REST uint8 json", "raw uint8", rest_caller(servers["plain"][2], rest_uint8)),
                    (
                        "OIP REST binary uint8",
                        "raw uint8",
                        oip_rest_caller(servers["plain"][2], oip_body, oip_header_length),
                    ),
                    (
                        "OIP gRPC raw uint8",
                        "raw uint8",
                        oip_grpc_caller(servers["plain"][1], imgs, features.SIGNATURE_IMAGES),
                    ),
                ]
                if batch == 1 and clients > 1:
                    modes.append(
                        (
                            "gRPC uint8 +batching",
                            "raw uint8",
                            grpc_caller(servers["batching"][1], grpc_req),
                        )
                    )
                results.extend(
                    measure_paired(
                        modes,
                        batch,
                        clients,
                        args.rounds,
                        args.duration,
                        {
                            mode: servers["batching" if "batching" in mode else "plain"][0].pid
                            for mode, raw_key, _ in modes
                            if mode != raw_key
                        },
                    )
                )
        batching_note = batch_sizes(servers["batching"][2])
        floor_note = transport_floor(servers["plain"][2], servers["plain"][1])
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(30)

    raw = {(r.mode, r.batch, r.clients): r for r in results if r.mode.startswith("raw")}
    header = (
        f"{'mode':<22} {'batch':>5} {'clients':>7} {'images/s':>10} {'÷raw':>6} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'cpu ms/img':>10} {'cpu÷raw':>7}"
    )
    print(
        f"\nServing benchmark ({origin}; {args.rounds} pairs of {args.duration:g} s slices "
        "(raw call, row) per row: best images/s, median ÷raw of the pairs; "
        f"{os.cpu_count()} CPUs)\n" + header + "\n" + "-" * len(header)
    )
    for r in results:
        base_r = raw[(r.raw_key, r.batch, r.clients)]
        ratio = r.ratio
        added = r.p50_ms - base_r.p50_ms
        print(
            f"{r.mode:<22} {r.batch:>5} {r.clients:>7} {r.images_per_s:>10.1f} "
            f"{ratio:>6.2f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{'' if r.mode.startswith('raw') else f'{added:+.2f}':>8} "
            f"{r.cpu_ms_per_image:>10.3f} {r.cpu_ratio:>7.2f}"
        )
    print(batching_note)
    print(floor_note)
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
