"""Ingest at scale: seconds per 1,000 images and peak memory, for 2,000 and 20,000 JPEGs.

Writes an image folder of ``--images`` 256x256 JPEGs (10 class folders, the real CIFAR-10
subset upscaled: copy k of an image is flipped for odd k and brightness-shifted by k, so no two
files are identical) and a ``--small`` folder of hard links to an even share of them. Each folder
is ingested by ``ingest.spans.prepare_span`` in its own process, twice (a new span, then the
unchanged re-run that reuses it); each process reports its wall time and its peak RSS, beside
the RSS it had after importing TensorFlow and the data layer. Images stream through one at a
time, so the peak does not grow with image data; what does grow is the plan (each file's
relative path, class and split key, a few hundred bytes per image).

    .venv/bin/python -m bench.bench_ingest [--images 20000] [--small 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZE = 256


def write_photos(target: Path, count: int, data_root: Path) -> int:
    """``count`` JPEGs of SIZE x SIZE in ``target/<class>/``, from the CIFAR-10 subset."""
    from PIL import Image

    from ingest import cifar10

    train, test = cifar10.load_train(data_root), cifar10.load_test(data_root)
    images = np.concatenate([train.images, test.images])
    labels = np.concatenate([train.labels, test.labels])
    names = cifar10.class_names(data_root)
    for name in names:
        (target / name).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        copy, index = divmod(i, len(images))
        pixels = images[index][:, ::-1] if copy % 2 else images[index]
        pixels = np.clip(pixels.astype(np.int16) + copy, 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels).resize((SIZE, SIZE), Image.BICUBIC)
        image.save(target / names[labels[index]] / f"{i:06d}.jpg", format="JPEG", quality=90)
    return count


def link_share(source: Path, target: Path, count: int) -> int:
    """Hard links to ``count`` of ``source``'s images, the same share of every class."""
    classes = sorted(p for p in source.iterdir() if p.is_dir())
    total = sum(len(list(c.iterdir())) for c in classes)
    linked = 0
    for folder in classes:
        files = sorted(folder.iterdir())
        share = round(count * len(files) / total)
        (target / folder.name).mkdir(parents=True)
        for f in files[:share]:
            os.link(f, target / folder.name / f.name)
        linked += share
    return linked


def child(data: Path, examples: Path) -> int:
    """In a fresh process: ingest ``data`` twice, print what it cost as one JSON line."""
    from models import keras_runtime

    keras_runtime.prepare_entry_point()
    from ingest import spans

    after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before, started = _cpu_seconds(), time.monotonic()
    info = spans.prepare_span(data, examples)
    seconds, cpu = time.monotonic() - started, _cpu_seconds() - cpu_before
    started = time.monotonic()
    again = spans.prepare_span(data, examples)
    reuse_seconds = time.monotonic() - started
    print(
        json.dumps(
            {
                "images": sum(info.counts.values()),
                "shape": list(info.description.image_shape),
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "reuse_seconds": round(reuse_seconds, 3),
                "reused": again.reused,
                "rss_after_import_mb": round(after_import / 1024, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )
    return 0


def _cpu_seconds() -> float:
    """User + system CPU time of this process: unlike wall time, barely moved by other
    processes competing for the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(data: Path, examples: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_ingest", "--child", str(data), str(examples)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=20_000)
    p.add_argument("--small", type=int, default=2_000)
    p.add_argument("--data-root", help="CIFAR-10 batches to draw images from")
    p.add_argument("--work-dir", help="keep the folders here (default: a removed temp dir)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--child", nargs=2, metavar=("DATA", "EXAMPLES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(Path(args.child[0]), Path(args.child[1]))

    from ingest import cifar10

    data_root = cifar10.resolve_data_root(args.data_root, dict(os.environ))
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        started = time.monotonic()
        write_photos(work / "large", args.images, data_root)
        link_share(work / "large", work / "small", args.small)
        print(f"wrote {args.images:,} JPEGs of {SIZE}x{SIZE} in {time.monotonic() - started:.0f}s")
        results: dict[str, Any] = {"load_average_before": os.getloadavg()[0]}
        for name in ("small", "large"):
            r = measure(work / name, work / f"examples-{name}")
            r["seconds_per_1000"] = round(1000 * r["seconds"] / r["images"], 2)
            r["cpu_seconds_per_1000"] = round(1000 * r["cpu_seconds"] / r["images"], 2)
            r["growth_mb"] = round(r["peak_rss_mb"] - r["rss_after_import_mb"], 1)
            results[name] = r
        results["load_average_after"] = os.getloadavg()[0]
        print(
            f"{'images':>8} {'wall s':>7} {'s/1000':>7} {'CPU s/1000':>10} {'re-run s':>9} "
            f"{'RSS after import MB':>20} {'peak RSS MB':>12} {'growth MB':>10}"
        )
        for r in (results["small"], results["large"]):
            print(
                f"{r['images']:>8,} {r['seconds']:>7.1f} {r['seconds_per_1000']:>7.2f} "
                f"{r['cpu_seconds_per_1000']:>10.2f} {r['reuse_seconds']:>9.3f} "
                f"{r['rss_after_import_mb']:>20.0f} {r['peak_rss_mb']:>12.0f} "
                f"{r['growth_mb']:>10.1f}"
            )
        print(
            f"1-minute load average {results['load_average_before']:.1f} before, "
            f"{results['load_average_after']:.1f} after ({os.cpu_count()} cores)"
        )
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
