"""Drift benchmark: per shift, how often a window is flagged; on held-back CIFAR windows, how
often it is flagged by mistake; and the detector threshold derived from that null.

    .venv/bin/python -m bench.bench_drift [--data-root DIR] [--write-policy]

Data (the CIFAR-10 batches, through ingest.cifar10.resolve_data_root):

* a small model of the pipeline's architecture (models.model.build_model) is trained on
  ``--train-images`` training-batch images, so the remaining ones are unseen by it;
* reference = the test batch with that model's outputs (what the Evaluator sees; in
  production ``cifar10-rollout drift-reference`` builds it from the pushed model);
* the other training-batch images, shuffled, are split into a calibration pool and an
  evaluation pool; in-distribution windows of ``drift.window_images`` images are drawn
  from each (without replacement inside a window);
* shifted windows: evaluation-pool windows through each shift of rollout/drift/shifts.py, a
  class-prior window (half of it one class), and synthesized non-CIFAR images.

Threshold = ``--quantile`` of the calibration windows' scores times ``--margin``; the
false-alarm rate is measured on the evaluation windows, which the threshold never saw.
``--write-policy`` writes it into rollout/policy.yaml (``drift.score_threshold``). The
old pixel-histogram JS distance (threshold ``drift.threshold``) is reported beside it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

import numpy as np  # noqa: E402

from ingest import settings as ingest_settings  # noqa: E402
from models.dataset import CIFAR10  # noqa: E402
from rollout import settings as rollout_settings  # noqa: E402
from rollout.drift import shifts  # noqa: E402
from rollout.drift import signals as ds  # noqa: E402
from rollout.drift.monitor import PixelReference  # noqa: E402
from rollout.policy import load_policy  # noqa: E402

SHIFT_ORDER = (*shifts.IMAGE_SHIFTS, shifts.CLASS_PRIOR, shifts.UNLIKE_CIFAR)
COMMAND = ".venv/bin/python -m bench.bench_drift --write-policy"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_drift", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data-root",
        help="cifar-10-batches-py folder (default: "
        f"${ingest_settings.DATA_ROOT_ENV}, then the shared subset)",
    )
    p.add_argument("--train-images", type=int, default=2085)
    p.add_argument("--calibration-images", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument(
        "--null-windows", type=int, default=1000, help="in-distribution windows, per pool"
    )
    p.add_argument("--shift-windows", type=int, default=200, help="windows per shift")
    p.add_argument("--window", type=int, help="images per window (default: policy)")
    p.add_argument("--quantile", type=float, default=0.999)
    p.add_argument("--margin", type=float, default=1.15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--write-policy",
        action="store_true",
        help="write the derived threshold into rollout/policy.yaml",
    )
    args = p.parse_args(argv)
    if args.train_images < 100 or args.calibration_images < 100:
        p.error("--train-images and --calibration-images must be at least 100")
    if not 0.5 < args.quantile < 1 or args.margin < 1:
        p.error("--quantile must be in (0.5, 1) and --margin >= 1")
    return args


def train_model(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int):
    import tensorflow as tf

    from models.model import build_model

    tf.keras.utils.set_random_seed(seed)
    model = build_model()
    model.fit(images.astype(np.float32) / 255.0, labels, epochs=epochs, batch_size=64, verbose=0)
    return model


def predict(model, images: np.ndarray) -> np.ndarray:
    return model.predict(images.astype(np.float32) / 255.0, batch_size=256, verbose=0)


class Rows:
    """Per-image rows of one image set: both signals' features and pixel-histogram counts."""

    def __init__(
        self, images: np.ndarray, probabilities: np.ndarray, pixel: PixelReference
    ) -> None:
        self.image = ds.image_features(images)
        self.output = ds.output_features(probabilities)
        self.counts = pixel.bin_counts(images)


def scores(
    rows: Rows, windows: list[np.ndarray], ref: ds.DriftReference, pixel: PixelReference
) -> dict[str, np.ndarray]:
    image = [ds.window_score(ref.image, rows.image[w]).value for w in windows]
    output = [ds.window_score(ref.output, rows.output[w]).value for w in windows]
    js = [pixel.distance(rows.counts[w].sum(axis=0)) for w in windows]
    return {
        "image": np.array(image),
        "output": np.array(output),
        "pixel_js": np.array(js),
        "score": np.maximum(image, output),
    }


def flagged(r: dict[str, np.ndarray], threshold: float, js_threshold: float) -> np.ndarray:
    """The deployed detector (rollout.drift.monitor.DriftMonitor): score or pixel JS over its
    threshold."""
    return (r["score"] > threshold) | (r["pixel_js"] > js_threshold)


def random_windows(n_pool: int, size: int, count: int, rng: np.random.Generator):
    return [rng.choice(n_pool, size, replace=False) for _ in range(count)]


def write_policy_threshold(threshold: float, detail: str) -> None:
    """Replace the ``score_threshold`` line of rollout/policy.yaml, keeping its comments."""
    path = Path(rollout_settings.ROLLOUT_POLICY_PATH)
    text = path.read_text()
    line = f"  score_threshold: {threshold:.2f}     # {detail}"
    new, count = re.subn(r"^  score_threshold:.*$", line, text, flags=re.M)
    if count != 1:
        raise SystemExit(f"{path}: expected one drift.score_threshold line, found {count}")
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ingest import cifar10

    started = time.monotonic()
    policy = load_policy().drift
    size = args.window or policy.window_images
    try:
        root = cifar10.resolve_data_root(args.data_root, dict(os.environ))
        train, test = cifar10.load_train(root), cifar10.load_test(root)
    except cifar10.CifarDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(train))
    n_train, n_cal = args.train_images, args.calibration_images
    fit_idx, cal_idx, eval_idx = (
        order[:n_train],
        order[n_train : n_train + n_cal],
        order[n_train + n_cal :],
    )
    if len(eval_idx) < 2 * size:
        print(
            f"error: {len(eval_idx)} evaluation images; need at least {2 * size} "
            f"(lower --train-images/--calibration-images)",
            file=sys.stderr,
        )
        return 2
    print(
        f"data {root}: model on {n_train} images, reference = test batch "
        f"({len(test)}), calibration pool {n_cal}, evaluation pool {len(eval_idx)}, "
        f"window {size}",
        flush=True,
    )

    t0 = time.monotonic()
    model = train_model(train.images[fit_idx], train.labels[fit_idx], args.epochs, args.seed)
    accuracy = float((predict(model, test.images).argmax(1) == test.labels).mean())
    print(
        f"model: {args.epochs} epochs in {time.monotonic() - t0:.0f}s, test accuracy "
        f"{accuracy:.3f}",
        flush=True,
    )

    ref = ds.build_reference(
        test.images, predict(model, test.images), "test batch", class_names=CIFAR10.class_names
    )
    counts, edges = np.histogram(
        train.images[fit_idx].ravel() / 255.0, bins=10, range=(0.0, 1.0)
    )  # TFDV's standard histogram, 10 buckets
    pixel = PixelReference(edges, counts / counts.sum(), "training images")

    cal_images, eval_images = train.images[cal_idx], train.images[eval_idx]
    eval_labels = train.labels[eval_idx]
    cal = Rows(cal_images, predict(model, cal_images), pixel)
    null_cal = scores(cal, random_windows(len(cal_idx), size, args.null_windows, rng), ref, pixel)
    ev = Rows(eval_images, predict(model, eval_images), pixel)
    null_eval = scores(ev, random_windows(len(eval_idx), size, args.null_windows, rng), ref, pixel)
    threshold = float(np.quantile(null_cal["score"], args.quantile) * args.margin)

    results: dict[str, dict[str, np.ndarray]] = {}
    worst: dict[str, str] = {}
    for name in SHIFT_ORDER:
        if name == shifts.CLASS_PRIOR:
            rows = ev
            windows = [
                shifts.class_prior_window(eval_labels, size, rng) for _ in range(args.shift_windows)
            ]
        else:
            images = shifts.apply(name, eval_images, np.random.default_rng(args.seed + 1))
            rows = Rows(images, predict(model, images), pixel)
            windows = random_windows(len(images), size, args.shift_windows, rng)
        results[name] = scores(rows, windows, ref, pixel)
        z_image = ds.window_score(ref.image, rows.image[windows[0]])
        z_output = ds.window_score(ref.output, rows.output[windows[0]])
        worst[name] = max(z_image, z_output, key=lambda s: s.value).describe()

    def rate(values: np.ndarray, limit: float | None = None) -> str:
        hits = values if limit is None else values > limit
        return f"{100 * float(hits.mean()):.1f}"

    js_limit = policy.threshold

    print(
        f"\nthreshold: {threshold:.2f} = q{100 * args.quantile:g} of {args.null_windows} "
        f"calibration windows ({np.quantile(null_cal['score'], args.quantile):.2f}) x "
        f"{args.margin}; pixel-histogram JS threshold {policy.threshold}\n"
    )
    print(
        "| windows | n | flagged % (detector) | image signal % | output signal % "
        "| pixel JS % (old) | median score | strongest feature (one window) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name in SHIFT_ORDER:
        r = results[name]
        print(
            f"| {name} | {len(r['score'])} | {rate(flagged(r, threshold, js_limit))} | "
            f"{rate(r['image'], threshold)} | {rate(r['output'], threshold)} | "
            f"{rate(r['pixel_js'], js_limit)} | {np.median(r['score']):.1f} | "
            f"{worst[name]} |"
        )
    for label, r in (("held-back, calibration", null_cal), ("held-back, evaluation", null_eval)):
        print(
            f"| {label} (false alarms) | {len(r['score'])} | "
            f"{rate(flagged(r, threshold, js_limit))} | "
            f"{rate(r['image'], threshold)} | {rate(r['output'], threshold)} | "
            f"{rate(r['pixel_js'], js_limit)} | {np.median(r['score']):.1f} | |"
        )
    print(
        f"\nheld-back evaluation windows: max score {null_eval['score'].max():.2f}, "
        f"max pixel JS {null_eval['pixel_js'].max():.3f}; weakest shifted window: score "
        f"{min(results[n]['score'].min() for n in SHIFT_ORDER):.2f}"
    )
    detected = min(float(flagged(results[n], threshold, js_limit).mean()) for n in SHIFT_ORDER)
    false_alarms = float(flagged(null_eval, threshold, js_limit).mean())
    print(
        f"\nlowest detection rate {100 * detected:.1f} % (goal >= 95); false alarms on "
        f"evaluation windows {100 * false_alarms:.1f} % (goal <= 1); "
        f"{time.monotonic() - started:.0f}s in all"
    )
    if args.write_policy:
        write_policy_threshold(
            threshold, f"q{100 * args.quantile:g} of held-back windows x {args.margin}"
        )
        print(
            f"wrote drift.score_threshold: {threshold:.2f} into "
            f"{rollout_settings.ROLLOUT_POLICY_PATH}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
