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
from matplotlib.ticker import MaxNLocator

DPI = 100
SPLIT_COLORS = {"train": "#4c72b0", "eval": "#dd8452", "test": "#55a868"}
MODEL_COLORS = {"candidate": "#4c72b0", "baseline": "#8c8c8c"}
CHANNELS = (("R", "#c44e52"), ("G", "#55a868"), ("B", "#4c72b0"))
GRAY_CHANNEL = (("gray", "#555555"),)


def channel_names(channels: int) -> tuple[str, ...]:
    """Column and panel names of an image's channels: R, G, B or gray."""
    return tuple(name for name, _ in (GRAY_CHANNEL if channels == 1 else CHANNELS))


def _class_axis_width(num_classes: int) -> float:
    """Figure width for one bar group per class: ten classes fit 9 inches, more widen it."""
    return max(9.0, 0.4 * num_classes)


def _class_ticks(ax, names: Sequence[str]) -> None:
    ax.set_xticks(
        np.arange(len(names)), names, rotation=30, ha="right", fontsize=8 if len(names) <= 30 else 6
    )


def to_data_uri(figure: Figure) -> str:
    """PNG bytes of ``figure`` as a ``data:`` URI (the page must not load anything)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def class_balance(shares_by_split: dict[str, Sequence[float]], class_names: Sequence[str]) -> str:
    """Grouped bars: each split's share of every class (train is the baseline)."""
    fig = Figure(figsize=(_class_axis_width(len(class_names)), 3.2))
    ax = fig.subplots()
    x = np.arange(len(class_names))
    width = 0.8 / max(1, len(shares_by_split))
    for i, (split, shares) in enumerate(shares_by_split.items()):
        ax.bar(
            x + (i - (len(shares_by_split) - 1) / 2) * width,
            shares,
            width,
            label=split,
            color=SPLIT_COLORS.get(split),
        )
    ax.axhline(1 / len(class_names), color="black", lw=0.8, ls=":", label="uniform")
    _class_ticks(ax, class_names)
    ax.set_ylabel("share of split")
    ax.legend(ncols=4, fontsize=8)
    ax.set_title("Class balance per split (StatisticsGen label histogram)")
    return to_data_uri(fig)


def pixel_histograms(histograms: dict[str, Sequence[Sequence[float]]]) -> str:
    """Per channel (R, G, B, or one gray panel), each split's pixel-intensity distribution
    (lines), train drawn thickest."""
    channels = len(next(iter(histograms.values()), [[]] * 3))
    fig = Figure(figsize=(9 if channels > 1 else 4, 2.8))
    axes = np.atleast_1d(fig.subplots(1, channels, sharey=True))
    for c, (ax, channel) in enumerate(zip(axes, channel_names(channels), strict=True)):
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
    return to_data_uri(training_figure(epochs, other, labels))


def training_figure(
    epochs: Sequence[dict[str, float]],
    other: Sequence[dict[str, float]] | None = None,
    labels: tuple[str, str] = ("", ""),
) -> Figure:
    """The figure of :func:`training_curves` (epoch axes tick whole epochs only)."""
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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def per_class_accuracy(
    per_model: Mapping[str, Sequence[float | None]], title: str, class_names: Sequence[str]
) -> str:
    """Bars per class, one colour per model (candidate vs baseline, or run A vs run B)."""
    fig = Figure(figsize=(_class_axis_width(len(class_names)), 3.2))
    ax = fig.subplots()
    x = np.arange(len(class_names))
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
    _class_ticks(ax, class_names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return to_data_uri(fig)


def confusion_matrix(matrix: np.ndarray, names: Sequence[str]) -> str:
    """Counts, rows = true class, columns = predicted class."""
    side = max(6.2, 0.45 * len(names))
    fig = Figure(figsize=(side, side * 0.87))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
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
    """Small images (uint8 [N, H, W, 1 or 3]: gray drawn in gray) with a caption each (the
    misclassified test images)."""
    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(columns * 1.2, rows * 1.6))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, caption in zip(axes, images, captions, strict=False):
        if image.ndim == 3 and image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image, interpolation="nearest")
        ax.set_title(caption, fontsize=6.5)
    return to_data_uri(fig)
