"""bench/bench_reload_memory.py: a short run against the real server process publishes,
serves and removes each version, and reports RSS per reload with a plot; bad arguments
are refused with a message."""

from __future__ import annotations

import re

import pytest

from bench import bench_reload_memory
from tests.bench.cli import run_bench


@pytest.mark.slow
def test_a_short_run_reloads_every_version_and_plots(tmp_path):
    from demos.synthetic_models import write_model

    model = write_model(tmp_path / "model", "brightness")
    plot = tmp_path / "reloads.png"
    done = run_bench(
        "bench_reload_memory",
        "--reloads=3",
        "--warmup=2",
        "--requests=5",
        f"--model-dir={model}",
        f"--plot={plot}",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", done.stdout, re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 3], done.stdout
    assert all(float(r[1]) > 100 for r in rows)  # a TensorFlow server's RSS, in MB
    assert "failed requests: 0" in done.stdout
    assert "after warm-up (reload 2 -> 3)" in done.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv", [["--reloads=0"], ["--requests=-1"], ["--env", "NO_EQUALS_SIGN"]])
def test_bad_arguments_exit_2_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_reload_memory.main(argv)
    assert stopped.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_growth_is_judged_after_the_warm_up_only():
    samples = [
        bench_reload_memory.Sample(k, mb, 1.0, 0) for k, mb in enumerate([500, 600, 600, 606])
    ]
    line = bench_reload_memory.growth_line(samples, warmup=1)
    assert "600 MB -> 606 MB, +1.0 %, +3.00 MB per reload" in line
