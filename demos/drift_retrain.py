"""Helpers for scripts/demo_drift_retrain.sh (drift alert -> automatic retrain -> canary).

    python -m demos.drift_retrain make-data --out DIR [--shift inverted] [--fraction 0.5]
        new labelled data: a copy of the CIFAR-10 batches in which a share of the images
        (train and test, same labels) went through a shift; the next span is built from it
    python -m demos.drift_retrain traffic --router URL [--shift inverted] [--rate 20]
        clients sending shifted test images through the router (with labelled feedback)
        until SIGINT/SIGTERM
    python -m demos.drift_retrain wait --output-root DIR --for alert|outcome [--timeout S]
        block until a drift alert (or a retrain outcome) is recorded; print it

Data comes from ``--data-root``, else ``$CIFAR10_DATA_ROOT``, else the shared subset
(ingest.cifar10.resolve_data_root). Exit codes: 0 ok, 1 timed out, 2 bad arguments/data.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ingest import settings as ingest_settings


def _data_root(explicit: str | None) -> Path:
    from ingest import cifar10

    root = cifar10.resolve_data_root(explicit, dict(os.environ))
    cifar10.check_layout(root)
    return root


def make_data(args: argparse.Namespace) -> int:
    """Write ``--out`` in the cifar-10-batches-py layout, a ``--fraction`` of it shifted."""
    from ingest import cifar10
    from rollout.drift import shifts

    source = _data_root(args.data_root)
    out = Path(args.out)
    if out.resolve() == source.resolve():
        raise cifar10.CifarDataError(f"--out {out} is the source data root")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    total = 0
    for name in (*ingest_settings.TRAIN_BATCHES, ingest_settings.TEST_BATCH):
        batch = cifar10.load_batch(source / name)
        images = batch.images.copy()
        pick = rng.random(len(images)) < args.fraction
        images[pick] = shifts.apply(args.shift, images[pick], rng)
        total += int(pick.sum())
        data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
        with (out / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": batch.labels.tolist()}, f)
    if (source / ingest_settings.META_FILE).exists():
        shutil.copy(source / ingest_settings.META_FILE, out / ingest_settings.META_FILE)
    print(
        f"new data in {out}: {total} images {args.shift} ({args.fraction:.0%}), "
        f"labels unchanged, from {source}"
    )
    return 0


def traffic(args: argparse.Namespace) -> int:
    from demos.loadgen import LoadGenerator
    from ingest import cifar10
    from rollout.drift import shifts

    test = cifar10.load_test(_data_root(args.data_root))
    images = shifts.apply(args.shift, test.images, np.random.default_rng(args.seed))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    load = LoadGenerator(args.router, images, test.labels, rate_per_second=args.rate).start()
    print(f"traffic: {args.rate:g} req/s of {args.shift} test images -> {args.router}", flush=True)
    stop.wait(args.seconds)
    print(f"traffic stopped: {load.stop().line()}", flush=True)
    return 0


def wait(args: argparse.Namespace) -> int:
    from rollout import atomic_io, retrain_requests
    from rollout.state import StatePaths

    paths = StatePaths.for_output_root(args.output_root)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if args.target == "alert":
            alerts = atomic_io.read_jsonl(paths.alerts)
            if alerts:
                last = alerts[-1]
                print(
                    f"ALERT {last['utc']} by {last['actor']}: {last['reason']}"
                    f"{' -> retrain requested' if last.get('retrain_requested') else ''}"
                )
                return 0
        else:
            outcomes = retrain_requests.outcomes(paths)
            if outcomes:
                last = outcomes[-1]
                print(
                    f"retrain request {last['id'][:8]} {last['status'].upper()}: "
                    f"{last['outcome_reason']}"
                )
                return 0
        time.sleep(1.0)
    print(f"timed out after {args.timeout:.0f}s waiting for a {args.target}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    from rollout.drift import shifts

    p = argparse.ArgumentParser(
        prog="python -m demos.drift_retrain",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    sub = p.add_subparsers(dest="command", required=True)
    choices = tuple(name for name in shifts.SHIFT_NAMES if name != shifts.NO_SHIFT)
    make = sub.add_parser("make-data")
    make.add_argument("--out", required=True)
    make.add_argument("--fraction", type=float, default=0.5)
    send = sub.add_parser("traffic")
    send.add_argument("--router", required=True, help="router REST URL")
    send.add_argument("--rate", type=float, default=20.0)
    send.add_argument("--seconds", type=float, default=None, help="default: until signalled")
    for cmd in (make, send):
        cmd.add_argument("--data-root")
        cmd.add_argument("--shift", choices=choices, default="inverted")
        cmd.add_argument("--seed", type=int, default=0)
    waiter = sub.add_parser("wait")
    waiter.add_argument("--output-root", required=True)
    waiter.add_argument("--for", dest="target", choices=("alert", "outcome"), required=True)
    waiter.add_argument("--timeout", type=float, default=600.0)
    return p


def main(argv: list[str] | None = None) -> int:
    from ingest import cifar10
    from models.keras_runtime import prepare_entry_point

    prepare_entry_point()  # the shifts and the reference read images through TensorFlow

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "make-data" and not 0 < args.fraction <= 1:
        parser.error("--fraction must be in (0, 1]")
    try:
        return {"make-data": make_data, "traffic": traffic, "wait": wait}[args.command](args)
    except cifar10.CifarDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
