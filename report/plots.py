"""The report's figures, drawn with matplotlib's Agg backend and inlined as PNG data URIs.

``matplotlib.figure.Figure`` is used directly (no pyplot): no global figure state, no GUI
backend, nothing to close, and safe inside a runner process that already imported pyplot.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.figure import Figure

from models import features

DPI = 100
SPLIT_COLORS = {"train": "#4c72b0", "eval": "#dd8452", "test": "#55a868"}
MODEL_COLORS = {"candidate": "#4c72b0", "baseline": "#8c8c8c"}
CHANNELS = (("R", "#c44e52"), ("G", "#55a868"), ("B", "#4c72b0"))


def to_data_uri(figure: Figure) -> str:
    """PNG bytes of ``figure`` as a ``data:`` URI (the page must not load anything)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def class_balance(shares_by_split: dict[str, Sequence[float]]) -> str:
    """Grouped bars: each split's share of every class (train is the baseline)."""
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    x = np.arange(features.NUM_CLASSES)
    width = 0.8 / max(1, len(shares_by_split))
    for i, (split, shares) in enumerate(shares_by_split.items()):
        ax.bar(
            x + (i - (len(shares_by_split) - 1) / 2) * width,
            shares,
            width,
            label=split,
            color=SPLIT_COLORS.get(split),
        )
    ax.axhline(1 / features.NUM_CLASSES, color="black", lw=0.8, ls=":", label="uniform")
    ax.set_xticks(x, features.LABEL_NAMES, rotation=30, ha="right")
    ax.set_ylabel("share of split")
    ax.legend(ncols=4, fontsize=8)
    ax.set_title("Class balance per split (StatisticsGen label histogram)")
    return to_data_uri(fig)


def pixel_histograms(histograms: dict[str, Sequence[Sequence[float]]]) -> str:
    """Per channel, each split's pixel-intensity distribution (lines), train drawn thickest."""
    fig = Figure(figsize=(9, 2.8))
    axes = fig.subplots(1, 3, sharey=True)
    for c, (ax, (channel, _color)) in enumerate(zip(axes, CHANNELS, strict=True)):
        for split, per_channel in histograms.items():
            bins = len(per_channel[c])
            centers = (np.arange(bins) + 0.5) * 256 / bins
            ax.plot(
                centers,
                per_channel[c],
                label=split,
                color=SPLIT_COLORS.get(split),
                lw=2.5 if split == "train" else 1.2,
            )
        ax.set_title(f"{channel} channel")
        ax.set_xlabel("intensity")
    axes[0].set_ylabel("share of pixels")
    axes[-1].legend(fontsize=8)
    return to_data_uri(fig)


def training_curves(
    epochs: Sequence[dict[str, float]],
    other: Sequence[dict[str, float]] | None = None,
    labels: tuple[str, str] = ("", ""),
) -> str:
    """Loss and accuracy per epoch, train and eval (and a second run dashed, to compare)."""
    fig = Figure(figsize=(9, 3.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    runs = [(epochs, "-", labels[0])] + ([(other, "--", labels[1])] if other is not None else [])
    for rows, style, name in runs:
        x = [r["epoch"] for r in rows]
        prefix = f"{name} " if name else ""
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "sparse_categorical_accuracy")):
            for split, key, color in (
                ("train", metric, "#4c72b0"),
                ("eval", f"val_{metric}", "#dd8452"),
            ):
                y = [r.get(key) for r in rows]
                if any(v is not None for v in y):
                    ax.plot(
                        x,
                        [np.nan if v is None else v for v in y],
                        style,
                        marker="o",
                        ms=3,
                        color=color,
                        label=f"{prefix}{split}",
                    )
    ax_loss.set(title="Loss", xlabel="epoch")
    ax_acc.set(title="Accuracy", xlabel="epoch")
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return to_data_uri(fig)


def per_class_accuracy(per_model: Mapping[str, Sequence[float | None]], title: str) -> str:
    """Bars per class, one colour per model (candidate vs baseline, or run A vs run B)."""
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    x = np.arange(features.NUM_CLASSES)
    width = 0.8 / max(1, len(per_model))
    palette = ["#4c72b0", "#8c8c8c", "#dd8452", "#55a868"]
    for i, (model, values) in enumerate(per_model.items()):
        ax.bar(
            x + (i - (len(per_model) - 1) / 2) * width,
            [np.nan if v is None else v for v in values],
            width,
            label=model,
            color=MODEL_COLORS.get(model, palette[i % len(palette)]),
        )
    ax.set_xticks(x, features.LABEL_NAMES, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return to_data_uri(fig)


def confusion_matrix(matrix: np.ndarray) -> str:
    """Counts, rows = true class, columns = predicted class."""
    fig = Figure(figsize=(6.2, 5.4))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    names = features.LABEL_NAMES
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    limit = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > limit else "black",
        )
    ax.set_title("Confusion matrix (test split)")
    return to_data_uri(fig)


def image_grid(images: np.ndarray, captions: Sequence[str], columns: int = 8) -> str:
    """Small images with a caption each (the misclassified test images)."""
    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(columns * 1.2, rows * 1.6))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, caption in zip(axes, images, captions, strict=False):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(caption, fontsize=6.5)
    return to_data_uri(fig)
