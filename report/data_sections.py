"""The data sections of the run report: the dataset, its statistics and the pixel drift
between splits, and data validation (anomalies, schema); report/render.py assembles the page
from these and its own sections."""

from __future__ import annotations

import numpy as np

from ingest import settings as ingest_settings
from report import data, plots
from report.facts import RunFacts
from report.html import esc, figure, fmt, paragraph, table


def data_section(facts: RunFacts) -> str:
    d = facts.data
    if not d.splits and not d.pixels:
        return paragraph(
            "No data statistics: ExampleGen/StatisticsGen produced nothing readable in this run.",
            "muted",
        )
    dataset = facts.dataset
    height, width, channels = dataset.image_shape
    parts = [
        paragraph(
            f"Input span {d.span if d.span is not None else 'n/a'}: {dataset.num_classes} "
            f"classes ({', '.join(dataset.class_names)}), model input {height}x{width}, "
            f"{'gray' if channels == 1 else 'colour'} ({channels} channel"
            f"{'s' if channels > 1 else ''}); dataset description: {facts.dataset_source or 'n/a'}."
            " Train is the baseline: the other splits are compared with it."
        )
    ]
    train = d.split(ingest_settings.TRAIN_SPLIT)
    if d.splits:
        rows = []
        for s in d.splits:
            drift = (
                fmt(data.linf_distance(s.class_counts, train.class_counts), 3)
                if train and s is not train
                else "baseline"
            )
            rows.append(
                (
                    s.name,
                    s.num_examples,
                    s.label_missing,
                    s.other_labels,
                    s.image_missing,
                    f"{s.image_avg_bytes:.0f}",
                    "n/a" if s.image_unique is None else s.image_unique,
                    drift,
                )
            )
        parts.append("<h3>Split sizes and image statistics (StatisticsGen)</h3>")
        parts.append(
            table(
                [
                    "split",
                    "examples",
                    "label missing",
                    f"label not 0-{dataset.num_classes - 1}",
                    "image missing",
                    "mean encoded bytes",
                    "unique images",
                    "class balance L-inf vs train",
                ],
                rows,
                numeric=[1, 2, 3, 4, 5, 6, 7],
            )
        )
        parts.append(
            figure(
                plots.class_balance(
                    {s.name: data.shares(s.class_counts) for s in d.splits}, dataset.class_names
                ),
                "class balance per split",
            )
        )
        parts.append(
            table(
                ["class", *[s.name for s in d.splits]],
                [
                    (name, *[s.class_counts[k] for s in d.splits])
                    for k, name in enumerate(dataset.class_names)
                ],
                numeric=list(range(1, len(d.splits) + 1)),
            )
        )
    if d.pixels:
        base = next((p for p in d.pixels if p.name == ingest_settings.TRAIN_SPLIT), None)
        pixel_rows: list[tuple[object, ...]] = []
        for p in d.pixels:
            js = (
                "baseline"
                if p is base or base is None
                else fmt(
                    float(
                        np.mean(
                            [
                                data.js_distance(p.histogram[c], base.histogram[c])
                                for c in range(len(p.histogram))
                            ]
                        )
                    ),
                    3,
                )
            )
            pixel_rows.append(
                (
                    p.name,
                    p.sample_size,
                    *[f"{m:.1f} / {sd:.1f}" for m, sd in zip(p.mean, p.std, strict=True)],
                    f"{p.brightness:.1f}",
                    js,
                )
            )
        parts.append(f"<h3>Pixel statistics (first {data.PIXEL_SAMPLE} images of each split)</h3>")
        parts.append(
            table(
                [
                    "split",
                    "images",
                    *[f"{name} mean / std" for name in plots.channel_names(channels)],
                    "brightness",
                    "JS distance vs train",
                ],
                pixel_rows,
                numeric=list(range(1, channels + 4)),
            )
        )
        parts.append(
            figure(
                plots.pixel_histograms({p.name: p.histogram for p in d.pixels}),
                "pixel intensity histograms per split",
            )
        )
    return "".join(parts)


def validation_section(facts: RunFacts) -> str:
    parts = ["<h3>Anomalies (ExampleValidator against the schema)</h3>"]
    if facts.anomalies is None:
        parts.append(
            paragraph(
                "Not available: ExampleValidator produced no readable output in this run.", "muted"
            )
        )
    elif not facts.anomalies:
        parts.append('<div class="banner ok">none</div>')
    else:
        parts.append('<div class="banner bad">' + f"{len(facts.anomalies)} found</div>")
        parts.append("<ul>" + "".join(f"<li>{esc(a)}</li>" for a in facts.anomalies) + "</ul>")
    parts.append("<h3>Schema</h3>")
    if facts.schema_text is None:
        parts.append(paragraph("No schema artifact in this run.", "muted"))
    else:
        parts.append(paragraph(f"From {facts.schema_uri}/schema.pbtxt (ImportSchemaGen)."))
        parts.append(f"<pre>{esc(facts.schema_text)}</pre>")
    return "".join(parts)
