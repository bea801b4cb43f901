"""bench/rest_path_profile.py runs on a tiny model and its clocks add up."""

from __future__ import annotations

import re

import pytest

from tests.bench.cli import run_bench
from tests.serving.tiny_models import build_tiny_model


@pytest.mark.slow
def test_the_three_clocks_and_their_differences_are_reported(tmp_path):
    model_dir = build_tiny_model(tmp_path / "model", 1)
    done = run_bench("rest_path_profile", f"--model-dir={model_dir}", "--batch=4", "--requests=30")
    assert done.returncode == 0, done.stderr[-3000:]
    figures = dict(re.findall(r"^  (.+?)\s+(-?[0-9.]+) ms$", done.stdout, re.M))
    assert len(figures) == 5, done.stdout
    round_trip = float(figures["client round trip"])
    tracked = float(figures["server, tracked (request log latency_ms)"])
    outside = float(figures["front end and wire (round trip - tracked)"])
    # The server's part of a request cannot exceed the client's wait for it.
    assert 0 < tracked < round_trip and 0 < outside < round_trip, done.stdout
    assert float(figures["session call alone (same inputs)"]) > 0, done.stdout
