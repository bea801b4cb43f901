"""The model card section, written from the same facts as the rest of the report.

Nothing here is typed in by hand except the intended use: sizes, metrics and limitations are
computed from this run, so the card cannot drift from the model it describes.
"""

from __future__ import annotations

import math

import numpy as np

from ingest import settings as ingest_settings
from models import features
from models.dataset import DatasetDescription
from report.dataset import dataset_title
from report.facts import RunFacts
from report.html import esc, fmt

CIFAR10_FULL_TRAIN_SIZE = 50_000  # images in the official CIFAR-10 training batches


def _shape_text(dataset: DatasetDescription) -> str:
    height, width, channels = dataset.image_shape
    return f"{height}x{width} {'gray' if channels == 1 else 'colour'}"


def intended_use(dataset: DatasetDescription) -> str:
    k = dataset.num_classes
    return (
        f"Classifying {_shape_text(dataset)} images into the {k} {dataset_title(dataset)} "
        f"classes ({', '.join(dataset.class_names)}), as the reference model of this TFX "
        "pipeline. Not for decisions about people, safety or anything outside these "
        f"{k} classes."
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
    k = facts.dataset.num_classes
    rows = [
        f"Reference CNN (models/model.py, Keras 2 via tf_keras): convolution and pooling "
        f"stages sized to the {_shape_text(facts.dataset)} input, softmax over {k} classes."
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
        f"Input span {facts.data.span}: {sizes} images ({dataset_title(facts.dataset)}, "
        f"model input {_shape_text(facts.dataset)}).",
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
    names = facts.dataset.class_names
    if per_class and len(known) == len(per_class):  # every class has an accuracy
        best, worst = int(np.argmax(known)), int(np.argmin(known))
        rows.append(
            f"Per class from {known[worst]:.3f} ({names[worst]}) "
            f"to {known[best]:.3f} ({names[best]})."
        )
    rows.append(f"Blessed: {facts.summary.blessed}.")
    return rows


def limitation_facts(facts: RunFacts) -> list[str]:
    rows = []
    dataset = facts.dataset
    names, k = dataset.class_names, dataset.num_classes
    train = facts.data.split(ingest_settings.TRAIN_SPLIT)
    if train and dataset.source.get("kind") == "cifar10":
        rows.append(
            f"Trained on {train.num_examples:,} images, "
            f"{train.num_examples / CIFAR10_FULL_TRAIN_SIZE:.0%} of CIFAR-10's training set."
        )
    elif train:
        rows.append(
            f"Trained on {train.num_examples:,} images "
            f"({train.num_examples // k:,} per class on average)."
        )
    ev = facts.evaluation
    if ev is not None and ev.example_count:
        low, high = accuracy_interval(ev.accuracy.get("candidate", 0.0), ev.example_count)
        rows.append(
            f"The test set has {ev.example_count} images: accuracy is known only to "
            f"+/-{(high - low) / 2:.3f}, per-class accuracy (about "
            f"{ev.example_count // k} images each) much less."
        )
    p = facts.predictions
    if p is not None and len(p.labels):
        confusion = p.confusion.copy()
        np.fill_diagonal(confusion, 0)
        i, j = np.unravel_index(int(np.argmax(confusion)), confusion.shape)
        if confusion[i, j]:
            rows.append(
                f"Most frequent mistake: {names[i]} taken for "
                f"{names[j]} ({confusion[i, j]} of "
                f"{int((p.labels == i).sum())} test images)."
            )
        collapsed = np.bincount(p.predicted, minlength=k).max() / len(p.labels)
        rows.append(
            f"Its most predicted class takes {collapsed:.0%} of the test predictions "
            f"({1 / k:.0%} if balanced)."
        )
    rows.append(
        f"Any input gets one of the {k} labels: there is no 'none of these' answer, and "
        f"images unlike the training images are out of distribution (other sizes are "
        f"resized to {dataset.height}x{dataset.width})."
    )
    if facts.failed or facts.summary.blessed is False:
        rows.append("This run's model was not blessed: it is not meant to be served.")
    return rows


def render(facts: RunFacts) -> str:
    parts = [
        ("Model", model_facts(facts)),
        ("Data", data_facts(facts)),
        ("Intended use", [intended_use(facts.dataset)]),
        ("Metrics", metric_facts(facts)),
        ("Limitations", limitation_facts(facts)),
    ]
    return "".join(f"<h3>{esc(title)}</h3>{_items(rows)}" for title, rows in parts) + (
        f'<p class="muted">Written from run {esc(facts.summary.run_id)}; metrics '
        f"{esc(fmt(facts.summary.accuracy))} as recorded by the Evaluator.</p>"
    )
