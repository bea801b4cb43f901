"""The model card section, written from the same facts as the rest of the report.

Nothing here is typed in by hand except the intended use: sizes, metrics and limitations are
computed from this run, so the card cannot drift from the model it describes.
"""

from __future__ import annotations

import math

import numpy as np

from ingest import settings as ingest_settings
from models import features
from report.facts import RunFacts
from report.html import esc, fmt

FULL_TRAIN_SIZE = 50_000  # images in the official CIFAR-10 training batches

INTENDED_USE = (
    "Classifying 32x32 RGB photographs into the ten CIFAR-10 classes ("
    + ", ".join(features.LABEL_NAMES)
    + "), as the reference model of this TFX pipeline: "
    "to exercise and monitor the pipeline, serving and rollout end to end. Not for decisions "
    "about people, safety or anything outside these ten classes."
)


def _items(rows: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in rows) + "</ul>"


def accuracy_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95% interval of an accuracy measured on ``n`` examples."""
    if n <= 0:
        return 0.0, 1.0
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def model_facts(facts: RunFacts) -> list[str]:
    rows = [
        "Reference CNN: Conv32-Pool-Conv64-Pool-Conv64-Flatten-Dense64-Dropout-Dense10, "
        "softmax over 10 classes (models/model.py), Keras 2 via tf_keras."
    ]
    if facts.parameters:
        rows.append(f"{facts.parameters:,} trainable parameters.")
    if facts.hparams:
        rows.append(
            "Training settings: " + ", ".join(f"{k}={v}" for k, v in sorted(facts.hparams.items()))
        )
    if facts.model_uri:
        rows.append(
            f"SavedModel: {facts.model_uri} (signatures {features.SIGNATURE_EXAMPLES}, "
            f"{features.SIGNATURE_IMAGES}, {features.SIGNATURE_IMAGE_BYTES})."
        )
    else:
        rows.append("No model was trained in this run.")
    return rows


def data_facts(facts: RunFacts) -> list[str]:
    splits = {s.name: s.num_examples for s in facts.data.splits}
    if not splits:
        return ["No data statistics were produced in this run."]
    sizes = ", ".join(f"{k} {v:,}" for k, v in splits.items())
    return [
        f"Input span {facts.data.span}: {sizes} images (CIFAR-10, 32x32 RGB PNGs).",
        "Train fits the weights, eval drives early stopping, test is held out for the "
        "Evaluator's blessing.",
    ]


def metric_facts(facts: RunFacts) -> list[str]:
    ev = facts.evaluation
    if ev is None or "candidate" not in ev.accuracy:
        return ["Not evaluated in this run."]
    accuracy, n = ev.accuracy["candidate"], ev.example_count or 0
    low, high = accuracy_interval(accuracy, n)
    rows = [f"Test accuracy {accuracy:.4f} on {n} images (95% interval {low:.3f}-{high:.3f})."]
    if "baseline" in ev.accuracy:
        rows.append(f"Baseline (previously blessed) model: {ev.accuracy['baseline']:.4f}.")
    per_class = ev.per_class.get("candidate") or []
    known = [v for v in per_class if v is not None]
    if per_class and len(known) == len(per_class):  # every class has an accuracy
        best, worst = int(np.argmax(known)), int(np.argmin(known))
        rows.append(
            f"Per class from {known[worst]:.3f} ({features.LABEL_NAMES[worst]}) "
            f"to {known[best]:.3f} ({features.LABEL_NAMES[best]})."
        )
    rows.append(f"Blessed: {facts.summary.blessed}.")
    return rows


def limitation_facts(facts: RunFacts) -> list[str]:
    rows = []
    train = facts.data.split(ingest_settings.TRAIN_SPLIT)
    if train:
        rows.append(
            f"Trained on {train.num_examples:,} images, "
            f"{train.num_examples / FULL_TRAIN_SIZE:.0%} of CIFAR-10's training set."
        )
    ev = facts.evaluation
    if ev is not None and ev.example_count:
        low, high = accuracy_interval(ev.accuracy.get("candidate", 0.0), ev.example_count)
        rows.append(
            f"The test set has {ev.example_count} images: accuracy is known only to "
            f"+/-{(high - low) / 2:.3f}, per-class accuracy (about "
            f"{ev.example_count // features.NUM_CLASSES} images each) much less."
        )
    p = facts.predictions
    if p is not None and len(p.labels):
        confusion = p.confusion.copy()
        np.fill_diagonal(confusion, 0)
        i, j = np.unravel_index(int(np.argmax(confusion)), confusion.shape)
        if confusion[i, j]:
            rows.append(
                f"Most frequent mistake: {features.LABEL_NAMES[i]} taken for "
                f"{features.LABEL_NAMES[j]} ({confusion[i, j]} of "
                f"{int((p.labels == i).sum())} test images)."
            )
        collapsed = np.bincount(p.predicted, minlength=features.NUM_CLASSES).max() / len(p.labels)
        rows.append(
            f"Its most predicted class takes {collapsed:.0%} of the test predictions "
            f"(10% if balanced)."
        )
    rows.append(
        "Any input gets one of the ten labels: there is no 'none of these' answer, "
        "and images that are not 32x32 natural photos are out of distribution."
    )
    if facts.failed or facts.summary.blessed is False:
        rows.append("This run's model was not blessed: it is not meant to be served.")
    return rows


def render(facts: RunFacts) -> str:
    parts = [
        ("Model", model_facts(facts)),
        ("Data", data_facts(facts)),
        ("Intended use", [INTENDED_USE]),
        ("Metrics", metric_facts(facts)),
        ("Limitations", limitation_facts(facts)),
    ]
    return "".join(f"<h3>{esc(title)}</h3>{_items(rows)}" for title, rows in parts) + (
        f'<p class="muted">Written from run {esc(facts.summary.run_id)}; metrics '
        f"{esc(fmt(facts.summary.accuracy))} as recorded by the Evaluator.</p>"
    )
