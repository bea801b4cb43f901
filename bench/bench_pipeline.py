"""Pipeline overhead benchmark: (a) the full TFX pipeline, (b) the same job as plain Keras,
(c) an unchanged, cached re-run, (d) a second one; same data, seed and epochs, one invocation.

(c) must be all cache hits although (a) pushed its model: the baseline resolver leaves the
candidate itself out (pipeline/components/baseline_resolver.py). The Trainer's own epoch
times come from the ``training_history.json`` it writes, so its overhead is measured
against its compute in the same run.

    .venv/bin/python -m bench.bench_pipeline [--epochs 15] [--limit N]

Each phase runs in its own process so its peak RSS is its own. Times are wall seconds of
the whole process (imports included) and of the work alone.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import settings as ingest_settings
from models.hparams import HParams
from pipeline import configs

_ACC = re.compile(r"test accuracy \(candidate\):\s+([0-9.]+)")
_TOTAL = re.compile(r"^total: ([0-9.]+)s", re.M)
_PEAK = re.compile(r"PEAK_RSS_KB=(\d+)")
_ROW = re.compile(r"^(\S+)\s+(COMPLETE|CACHED|FAILED)\s+([0-9.]+)$", re.M)


def run_phase(cmd: list[str]) -> dict:
    """Run one phase in its own process; wall time, its peak RSS and its stdout."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.peak_rss", *cmd],
        cwd=configs.REPO_ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"phase failed: {' '.join(cmd)}")
    peak_kb = int(_PEAK.findall(proc.stderr)[-1])
    return {"wall": wall, "peak_mb": peak_kb / 1024, "stdout": proc.stdout}


def pipeline_cmd(args: argparse.Namespace, out: Path) -> list[str]:
    cmd = [
        sys.executable,
        "beam_runner.py",
        "--data-root",
        args.data_root,
        "--output-root",
        str(out),
        "--epochs",
        str(args.epochs),
    ]
    return cmd + (["--limit", str(args.limit)] if args.limit else [])


def parse_pipeline(stdout: str) -> dict:
    acc = _ACC.search(stdout)
    return {
        "work": float(_TOTAL.search(stdout).group(1)),
        "accuracy": float(acc.group(1)) if acc else float("nan"),
        "components": {m.group(1): (m.group(2), float(m.group(3))) for m in _ROW.finditer(stdout)},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=str(ingest_settings.SHARED_DATA_ROOT))
    p.add_argument("--epochs", type=int, default=HParams.epochs)
    p.add_argument("--limit", type=int, help="cap train/test images (default: all)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        out = Path(tmp)
        print(f"(b) plain Keras, {args.epochs} epochs ...", flush=True)
        plain_cmd = [
            sys.executable,
            "-m",
            "bench.plain_keras",
            "--data-root",
            args.data_root,
            "--epochs",
            str(args.epochs),
            "--export-dir",
            str(out / "plain"),
        ]
        if args.limit:
            plain_cmd += ["--limit", str(args.limit)]
        plain = run_phase(plain_cmd)
        plain.update(json.loads(plain["stdout"].strip().splitlines()[-1]))
        print(f"(a) TFX pipeline, {args.epochs} epochs ...", flush=True)
        first = run_phase(pipeline_cmd(args, out / "tfx"))
        first.update(parse_pipeline(first["stdout"]))
        first["trainer_epochs"] = trainer_epoch_seconds(out / "tfx")
        print("(c) cached re-run ...", flush=True)
        cached = run_phase(pipeline_cmd(args, out / "tfx"))
        cached.update(parse_pipeline(cached["stdout"]))
        print("(d) second cached re-run ...", flush=True)
        again = run_phase(pipeline_cmd(args, out / "tfx"))
        again.update(parse_pipeline(again["stdout"]))

    results = {
        "epochs": args.epochs,
        "limit": args.limit,
        "plain": {k: plain[k] for k in ("wall", "seconds", "accuracy", "peak_mb", "epoch_seconds")},
        "pipeline": {
            k: first[k]
            for k in ("wall", "work", "accuracy", "peak_mb", "components", "trainer_epochs")
        },
        "cached": {k: cached[k] for k in ("wall", "work", "peak_mb", "components")},
        "cached_again": {k: again[k] for k in ("wall", "work", "peak_mb", "components")},
    }
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def trainer_epoch_seconds(output_root: Path) -> list[float]:
    """Per-epoch seconds the Trainer recorded (models.model.EpochHistory)."""
    from models.model import HISTORY_FILE

    (path,) = (configs.pipeline_root(output_root) / "Trainer" / "model_run").glob(
        f"*/{HISTORY_FILE}"
    )
    return [e["seconds"] for e in json.loads(path.read_text())["epochs"]]


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_report(r: dict) -> None:
    pl, pi, ca, ag = r["plain"], r["pipeline"], r["cached"], r["cached_again"]
    print("\n| run | wall s (process) | work s | test accuracy | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| (b) plain Keras | {pl['wall']:.1f} | {pl['seconds']:.1f} | {pl['accuracy']:.4f} "
        f"| {pl['peak_mb']:.0f} |"
    )
    print(
        f"| (a) TFX pipeline | {pi['wall']:.1f} | {pi['work']:.1f} | {pi['accuracy']:.4f} "
        f"| {pi['peak_mb']:.0f} |"
    )
    print(f"| (c) cached re-run | {ca['wall']:.1f} | {ca['work']:.1f} | - | {ca['peak_mb']:.0f} |")
    print(
        f"| (d) second cached re-run | {ag['wall']:.1f} | {ag['work']:.1f} | - "
        f"| {ag['peak_mb']:.0f} |"
    )
    epochs = pi["trainer_epochs"]
    trainer_s = pi["components"]["Trainer"][1]
    compute = len(epochs) * statistics.median(epochs)
    ratios = [
        ("pipeline time s (work, (a))", pi["work"], "<= 60", pi["work"] <= 60),
        (
            "Trainer wall / (epochs x median epoch)",
            trainer_s / compute,
            "<= 1.25",
            trainer_s / compute <= 1.25,
        ),
        (
            "pipeline / plain (process wall)",
            pi["wall"] / pl["wall"],
            "<= 1.3",
            pi["wall"] / pl["wall"] <= 1.3,
        ),
        ("pipeline / plain (work only)", pi["work"] / pl["seconds"], "", None),
        (
            "cached / first (process wall)",
            ca["wall"] / pi["wall"],
            "<= 0.10",
            ca["wall"] / pi["wall"] <= 0.10,
        ),
        ("cached / first (pipeline only)", ca["work"] / pi["work"], "", None),
        (
            "second cached / first (process wall)",
            ag["wall"] / pi["wall"],
            "<= 0.10",
            ag["wall"] / pi["wall"] <= 0.10,
        ),
        (
            "accuracy gap, points (plain - pipeline)",
            100 * (pl["accuracy"] - pi["accuracy"]),
            "within 1.5",
            abs(pl["accuracy"] - pi["accuracy"]) <= 0.015,
        ),
    ]
    print("\n| figure | measured | target | |")
    print("|---|---:|---:|---|")
    for name, value, target, ok in ratios:
        print(f"| {name} | {value:.2f} | {target} | {'' if ok is None else _verdict(ok)} |")
    print(
        f"\nTrainer: {trainer_s:.1f} s for {len(epochs)} epochs, median epoch "
        f"{statistics.median(epochs):.2f} s, first {epochs[0]:.2f} s; plain Keras median "
        f"epoch {statistics.median(pl['epoch_seconds']):.2f} s"
    )
    print("\n| component | (a) first run s | (c) cached re-run | (d) second re-run |")
    print("|---|---:|---|---|")
    for node, (_state, secs) in pi["components"].items():
        c_state, c_secs = ca["components"].get(node, ("-", 0.0))
        d_state, d_secs = ag["components"].get(node, ("-", 0.0))
        print(f"| {node} | {secs:.1f} | {c_state} {c_secs:.1f}s | {d_state} {d_secs:.1f}s |")


if __name__ == "__main__":
    sys.exit(main())
