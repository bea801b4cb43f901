"""bench/serving_codec_profile.py runs on a tiny model and reports every stage and the GC."""

from __future__ import annotations

import re

import pytest

from tests.bench.cli import run_bench
from tests.serving.tiny_models import build_tiny_model


@pytest.mark.slow
def test_every_stage_and_the_gc_line_are_reported(tmp_path):
    model_dir = build_tiny_model(tmp_path / "model", 1)
    done = run_bench("serving_codec_profile", f"--model-dir={model_dir}", "--repeats=3")
    assert done.returncode == 0, done.stderr[-3000:]
    stages = [
        (name, ms)
        for name, ms in re.findall(r"^  (.+?)\s+([0-9.]+) ms$", done.stdout, re.M)
        if "freeze_long_lived" not in name
    ]
    assert len(stages) == 10 and all(float(ms) >= 0 for _, ms in stages), done.stdout
    assert re.search(r"unfrozen, [0-9.]+ / [0-9.]+ ms frozen", done.stdout), done.stdout
    assert re.search(r"freeze_long_lived .*: [0-9]+ ms", done.stdout), done.stdout
