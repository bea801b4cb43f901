"""bench/bench_serving.py: its OIP request bodies are what the server decodes, and a short
run on a tiny model prints every row."""

from __future__ import annotations

import numpy as np
import pytest

from bench import bench_serving
from models import features
from pipeline import configs
from serving.oip import rest_codec
from tests.bench.cli import run_bench
from tests.serving.tiny_models import build_tiny_model


def test_oip_rest_body_decodes_to_the_images():
    images = np.arange(2 * 32 * 32 * 3, dtype=np.uint64).astype(np.uint8).reshape(2, 32, 32, 3)
    body, header_length = bench_serving.oip_rest_body(images, features.SIGNATURE_IMAGES)
    request = rest_codec.parse_infer_request(body, header_length, configs.MODEL_NAME, None)
    assert request.signature_name == features.SIGNATURE_IMAGES
    assert request.binary_output("probabilities")
    np.testing.assert_array_equal(request.inputs[0].array, images)


@pytest.mark.slow
def test_every_client_makes_a_call_even_past_the_deadline():
    """A client thread started late (a busy machine) still measures one call, so a short run
    never reports 0 images/s."""
    import threading

    callers: set[int] = set()

    def call() -> None:
        callers.add(threading.get_ident())

    calls, seconds, latencies = bench_serving.drive(call, clients=3, duration=0.0, warmup=0)
    assert len(callers) == 3 and calls == len(latencies) >= 3 and seconds > 0


def test_a_short_run_prints_every_row(tmp_path):
    model_dir = build_tiny_model(tmp_path / "model", 3)
    done = run_bench(
        "bench_serving",
        f"--model-dir={model_dir}",
        "--batches=2",
        "--clients=1",
        "--duration=0.2",
        "--rounds=1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout.split("Serving benchmark", 1)[1]
    for row in (
        "gRPC uint8",
        "REST b64 png",
        "REST uint8 json",
        "OIP REST binary uint8",
        "OIP gRPC raw uint8",
    ):
        line = next(line for line in table.splitlines() if line.startswith(row))
        images_per_s, cpu_ratio = float(line.split()[-7]), float(line.split()[-1])
        assert images_per_s > 0 and cpu_ratio > 0, line
    assert "transport floor (p50 of 300 requests without model work): REST" in done.stdout
