"""How the pipeline's cost grows with data: 1x, 4x and 12x the real subset, per runner mode.

Builds larger inputs from the real CIFAR-10 subset (5,085 + 500 images) in the official
layout: copy k of every image is flipped left-right (odd k) and shifted by a seeded crop of
a 4-pixel reflect-padded image, so no two copies are byte-identical; 12x is about 61,000
training images, the size of full CIFAR-10. Each size runs the whole pipeline (a fresh
output root, ``--epochs`` epochs) under the DirectRunner ``in_memory`` and
``multi_processing`` (2 workers), one process each, and reports per-component seconds per
1,000 images, the pipeline total and the peak RSS of the largest process.

    .venv/bin/python -m bench.bench_scale [--factors 1 4 12] [--epochs 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.bench_pipeline import parse_pipeline
from ingest import settings as ingest_settings
from pipeline import configs

MODES = {
    "in_memory": ["--beam-mode", "in_memory"],
    "multi_processing": ["--beam-mode", "multi_processing", "--beam-workers", "2"],
}
# Which images each component's cost scales with (train/eval/test of the span).
_PER = {
    "ImportExampleGen": "all",
    "StatisticsGen": "all",
    "Transform": "train",
    "Trainer": "train_epochs",
    "Evaluator": "test",
}
_PEAK = "PEAK_RSS_KB="


def augment(images: np.ndarray, copy: int) -> np.ndarray:
    """Copy ``copy`` of ``images``: 0 is the original; others flipped (odd) and shifted."""
    if copy == 0:
        return images
    out = images[:, :, ::-1] if copy % 2 else images
    padded = np.pad(out, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    dy, dx = np.random.default_rng(copy).integers(0, 9, size=2)
    if dy == 4 and dx == 4 and copy % 2 == 0:  # an unshifted even copy would be a duplicate
        dy = 0
    return np.ascontiguousarray(padded[:, dy : dy + 32, dx : dx + 32])


def write_scaled_layout(source: Path, target: Path, factor: int) -> dict[str, int]:
    """``factor`` augmented copies of ``source`` in the cifar-10-batches-py layout."""
    from ingest import cifar10

    target.mkdir(parents=True)
    train, test = cifar10.load_train(source), cifar10.load_test(source)

    def scaled(batch: cifar10.Batch) -> cifar10.Batch:
        return cifar10.Batch(
            np.concatenate([augment(batch.images, k) for k in range(factor)]),
            np.concatenate([batch.labels] * factor),
        )

    def dump(batch: cifar10.Batch, path: Path) -> None:
        rows = batch.images.transpose(0, 3, 1, 2).reshape(len(batch), -1)
        with path.open("wb") as f:
            pickle.dump({b"data": rows, b"labels": batch.labels.tolist()}, f)

    big_train, big_test = scaled(train), scaled(test)
    for i, part in enumerate(
        np.array_split(np.arange(len(big_train)), len(ingest_settings.TRAIN_BATCHES))
    ):
        dump(
            cifar10.Batch(big_train.images[part], big_train.labels[part]),
            target / ingest_settings.TRAIN_BATCHES[i],
        )
    dump(big_test, target / ingest_settings.TEST_BATCH)
    shutil.copy(source / ingest_settings.META_FILE, target / ingest_settings.META_FILE)
    return {"train_batches": len(big_train), "test": len(big_test)}


def run_size(data_root: Path, out: Path, mode: str, epochs: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "bench.peak_rss",
        sys.executable,
        "beam_runner.py",
        "--data-root",
        str(data_root),
        "--output-root",
        str(out),
        "--epochs",
        str(epochs),
        "--accuracy-lower-bound",
        "0",
        *MODES[mode],
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=configs.REPO_ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"pipeline failed at {data_root.name} / {mode}")
    peak_kb = int(proc.stderr.rsplit(_PEAK, 1)[1].split()[0])
    counts = json.loads(
        next((configs.examples_root(out)).glob("span-*/manifest.json")).read_text()
    )["counts"]
    return {
        "wall": wall,
        "peak_mb": peak_kb / 1024,
        "counts": counts,
        **parse_pipeline(proc.stdout),
    }


def per_thousand(result: dict, epochs: int) -> dict[str, float]:
    c = result["counts"]
    images = {
        "all": sum(c.values()),
        "train": c["train"],
        "test": c["test"],
        "train_epochs": c["train"] * epochs,
    }
    return {
        node: 1000 * result["components"][node][1] / images[kind]
        for node, kind in _PER.items()
        if node in result["components"]
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=str(ingest_settings.SHARED_DATA_ROOT))
    p.add_argument("--factors", type=int, nargs="+", default=[1, 4, 12])
    p.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES))
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for factor in args.factors:
            data = Path(tmp) / f"data-{factor}x"
            t0 = time.monotonic()
            sizes = write_scaled_layout(Path(args.data_root), data, factor)
            print(f"{factor}x: {sizes} written in {time.monotonic() - t0:.0f}s", flush=True)
            for mode in args.modes:
                r = run_size(data, Path(tmp) / f"out-{factor}x-{mode}", mode, args.epochs)
                r.update(factor=factor, mode=mode, per_1000=per_thousand(r, args.epochs))
                results.append(r)
                print(
                    f"  {mode}: pipeline {r['work']:.1f}s, process {r['wall']:.1f}s, "
                    f"peak {r['peak_mb']:.0f} MB",
                    flush=True,
                )
            shutil.rmtree(data)
    print_report(results, args.epochs)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def print_report(results: list[dict], epochs: int) -> None:
    nodes = list(_PER)
    print(f"\nseconds per 1,000 images ({epochs} epoch(s); Trainer per 1,000 images x epochs)")
    print("| size | mode | images | " + " | ".join(nodes) + " | pipeline s | peak RSS MB |")
    print("|---|---|---:|" + "---:|" * len(nodes) + "---:|---:|")
    for r in results:
        cells = " | ".join(f"{r['per_1000'].get(n, float('nan')):.2f}" for n in nodes)
        print(
            f"| {r['factor']}x | {r['mode']} | {sum(r['counts'].values())} | {cells} "
            f"| {r['work']:.1f} | {r['peak_mb']:.0f} |"
        )
    by = {(r["factor"], r["mode"]): r for r in results}
    lo, hi = min(r["factor"] for r in results), max(r["factor"] for r in results)
    print()
    for mode in MODES:
        if (lo, mode) in by and (hi, mode) in by and hi != lo:
            for n in nodes:
                a, b = by[(lo, mode)]["per_1000"].get(n), by[(hi, mode)]["per_1000"].get(n)
                if a and b:
                    print(f"{mode}: {n} per-image cost {hi}x / {lo}x = {b / a:.2f} (target <= 1.2)")
    for n in ("StatisticsGen", "Transform"):
        if (hi, "in_memory") in by and (hi, "multi_processing") in by:
            a = by[(hi, "in_memory")]["components"][n][1]
            b = by[(hi, "multi_processing")]["components"][n][1]
            print(f"{hi}x {n}: multi_processing / in_memory = {b / a:.2f} (target <= 0.7)")
    if (hi, "in_memory") in by:
        print(
            f"{hi}x peak RSS (largest process): "
            f"{max(by[(hi, m)]['peak_mb'] for m in MODES if (hi, m) in by):.0f} MB "
            "(target <= 4096)"
        )


if __name__ == "__main__":
    sys.exit(main())
