"""The run report page: one function per section, each built only from :class:`RunFacts`.

A section whose facts are missing (a failed run, an unreadable artifact) says so instead of
disappearing, so a reader can tell "not produced" from "not shown".
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline import summary as run_summary
from report import lineage, model_card, plots
from report.data_sections import data_section, validation_section
from report.dataset import dataset_title
from report.facts import RunFacts
from report.html import esc, figure, fmt, page, paragraph, table
from report.training import early_stopping_summary

MISCLASSIFIED_SHOWN = 24


def render(facts: RunFacts) -> str:
    run_id = facts.summary.run_id or "no run"
    sections = [
        ("overview", "Overview", overview(facts)),
        ("data", "Data", data_section(facts)),
        ("validation", "Validation", validation_section(facts)),
        ("training", "Training", training_section(facts)),
        ("evaluation", "Evaluation", evaluation_section(facts)),
        ("blessing", "Blessing and push", blessing_section(facts)),
        ("lineage", "Lineage", lineage_section(facts)),
        ("model-card", "Model card", model_card.render(facts)),
    ]
    if facts.problems:
        sections.append(
            (
                "problems",
                "Not shown",
                table(["what", "why"], [(p.split(": ", 1) + [""])[:2] for p in facts.problems]),
            )
        )
    generated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(facts.generated))
    return page(
        f"{dataset_title(facts.dataset)} pipeline run {run_id}",
        f"{status_text(facts)} - report generated {generated} from ML Metadata and "
        f"the artifacts under {facts.output_root}",
        sections,
    )


def status_text(facts: RunFacts) -> str:
    if facts.summary.run_id is None:
        return "no run recorded"
    if facts.failed:
        where = ", ".join(facts.failed_nodes) or "the runner"
        return f"FAILED at {where}"
    if facts.summary.pushed:
        return "succeeded: blessed and pushed"
    if facts.summary.blessed is False:
        return "succeeded: not blessed, nothing pushed"
    return "succeeded"


def overview(facts: RunFacts) -> str:
    s = facts.summary
    css = "bad" if facts.failed else ("ok" if s.pushed else "warn")
    parts = [f'<div class="banner {css}">{esc(status_text(facts))}</div>']
    if facts.failed:
        ran = [e.node for e in s.executions if e.state in ("COMPLETE", "CACHED")]
        parts.append(
            paragraph(
                f"What failed: {', '.join(facts.failed_nodes) or 'the run'}. Components that "
                f"finished before it: {', '.join(ran) or 'none'}; nothing after it ran, so "
                "later sections show only what was produced."
            )
        )
        if facts.failure:
            parts.append(f"<h3>Error</h3><pre>{esc(facts.failure)}</pre>")
    started = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.run_started))
        if s.run_started
        else "n/a"
    )
    parts.append(
        table(
            ["fact", "value"],
            [
                ("run id", s.run_id or "n/a"),
                ("started", started),
                ("input span", facts.data.span if facts.data.span is not None else "n/a"),
                ("test accuracy (candidate)", fmt(s.accuracy)),
                ("test accuracy (baseline)", fmt(s.baseline_accuracy)),
                ("blessed", s.blessed if s.blessed is not None else "n/a"),
                ("pushed to", s.pushed_destination if s.pushed else "not pushed"),
                *[
                    ("predictions (--infer-dir)", line.split(": ", 1)[1])
                    for line in run_summary.format_predictions(s)
                ],
                ("run log", facts.log_file or "not found"),
            ],
        )
    )
    parts.append("<h3>Components</h3>")
    parts.append(
        table(
            ["component", "state", "seconds", "outputs"],
            [
                (
                    e.node,
                    e.state,
                    f"{e.seconds:.1f}",
                    ", ".join(f"{k} #{','.join(map(str, v))}" for k, v in e.outputs.items()),
                )
                for e in s.executions
            ],
            numeric=[2],
        )
    )
    return "".join(parts)


def training_section(facts: RunFacts) -> str:
    history = facts.history
    parts = []
    if facts.hparams:
        parts.append(table(["setting", "value"], sorted(facts.hparams.items())))
    if not history or not history.get("epochs"):
        parts.append(
            paragraph(
                "No training history: the Trainer did not run (or wrote no epoch) in this run.",
                "muted",
            )
        )
        return "".join(parts)
    epochs = history["epochs"]
    parts.append(figure(plots.training_curves(epochs), "training curves"))
    keys = ("loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy")
    parts.append(
        table(
            ["epoch", "seconds", "train loss", "train accuracy", "eval loss", "eval accuracy"],
            [
                (r.get("epoch"), fmt(r.get("seconds"), 1), *[fmt(r.get(k)) for k in keys])
                for r in epochs
            ],
            numeric=[0, 1, 2, 3, 4, 5],
        )
    )
    fit = (
        f"{len(epochs)} epoch(s) in {history['fit_seconds']:.1f} s of fit. "
        if "fit_seconds" in history
        else ""
    )
    parts.append(paragraph(fit + early_stopping_summary(epochs, facts.hparams)))
    return "".join(parts)


def evaluation_section(facts: RunFacts) -> str:
    ev = facts.evaluation
    parts = []
    if ev is None:
        parts.append(paragraph("No Evaluator output in this run.", "muted"))
    else:
        parts.append(
            table(
                ["model", "test accuracy", "examples"],
                [(m, fmt(a), ev.example_count) for m, a in ev.accuracy.items()],
                numeric=[1, 2],
            )
        )
        parts.append("<h3>Thresholds</h3>")
        parts.append(
            table(
                ["metric", "kind", "threshold"], [(t.metric, t.kind, t.text) for t in ev.thresholds]
            )
            if ev.thresholds
            else paragraph("No thresholds configured.", "muted")
        )
        if not ev.has_baseline:
            parts.append(
                paragraph(
                    "No baseline: no model had been blessed before this run, "
                    "so only the absolute threshold applied.",
                    "muted",
                )
            )
        if ev.per_class:
            parts.append("<h3>Per-class accuracy (TFMA slices by label)</h3>")
            parts.append(
                figure(
                    plots.per_class_accuracy(
                        ev.per_class, "Per-class test accuracy", facts.dataset.class_names
                    ),
                    "per-class accuracy",
                )
            )
            models = list(ev.per_class)
            parts.append(
                table(
                    ["class", "examples", *models],
                    [
                        (name, ev.per_class_count[k], *[fmt(ev.per_class[m][k], 3) for m in models])
                        for k, name in enumerate(facts.dataset.class_names)
                    ],
                    numeric=list(range(1, len(models) + 2)),
                )
            )
    p = facts.predictions
    if p is not None and len(p.labels):
        parts.append("<h3>Confusion matrix and misclassified images</h3>")
        parts.append(
            paragraph(
                f"The candidate SavedModel re-run on the {len(p.labels)} test "
                f"images of this span: accuracy {p.accuracy:.4f}."
            )
        )
        parts.append(
            figure(
                plots.confusion_matrix(p.confusion, facts.dataset.class_names), "confusion matrix"
            )
        )
        wrong = np.flatnonzero(p.labels != p.predicted)
        wrong = wrong[np.argsort(-p.confidence[wrong], kind="stable")][:MISCLASSIFIED_SHOWN]
        if len(wrong):
            names = facts.dataset.class_names
            captions = [
                f"{names[p.labels[i]]}\n-> {names[p.predicted[i]]} {p.confidence[i]:.2f}"
                for i in wrong
            ]
            parts.append(
                paragraph(
                    f"The {len(wrong)} most confident mistakes (true->predicted, confidence):"
                )
            )
            parts.append(
                figure(plots.image_grid(p.images[wrong], captions), "misclassified test images")
            )
    return "".join(parts)


def blessing_decision(facts: RunFacts) -> tuple[str, list[str]]:
    """("blessed" | "not blessed" | "not evaluated", the reasons), from the Evaluator."""
    s, ev = facts.summary, facts.evaluation
    if s.blessed is None or ev is None:
        return "not evaluated", ["the run ended before the Evaluator produced a blessing"]
    if not s.blessed:
        return "not blessed", s.failed_checks or ["the Evaluator's validation failed"]
    reasons = []
    for t in ev.thresholds:
        if t.kind == "value":
            reasons.append(f"passed {t.text}: candidate {fmt(ev.accuracy.get('candidate'))}")
        elif ev.has_baseline:
            diff = ev.accuracy["candidate"] - ev.accuracy["baseline"]
            reasons.append(f"passed {t.text}: {diff:+.4f}")
    return "blessed", reasons or ["every configured threshold passed"]


def blessing_section(facts: RunFacts) -> str:
    decision, reasons = blessing_decision(facts)
    css = {"blessed": "ok", "not blessed": "bad"}.get(decision, "warn")
    parts = [
        f'<div class="banner {css}">{esc(decision)}</div>',
        "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>",
    ]
    s = facts.summary
    pusher = next((e for e in s.executions if e.node == "Pusher"), None)
    if s.pushed:
        pushed = s.output("Pusher", "pushed_model")
        version = pushed.properties.get("pushed_version") if pushed else None
        parts.append(
            paragraph(
                f"Pushed to {s.pushed_destination} (version {version}), the "
                f"TF Serving model base path of '{_served_name(s.pushed_destination)}'."
            )
        )
    elif pusher is None:
        parts.append(paragraph("Not pushed: the Pusher did not run.", "muted"))
    else:
        parts.append(
            paragraph(
                "Not pushed: the model was not blessed, so the Pusher left the "
                "served versions untouched."
            )
        )
    parts += [paragraph(f"Inference folder {line}") for line in run_summary.format_predictions(s)]
    return "".join(parts)


def _served_name(destination: str | None) -> str:
    """The served model's name: the Pusher writes ``<serving root>/<name>/<version>``."""
    return Path(destination or "").parent.name or "n/a"


def lineage_section(facts: RunFacts) -> str:
    graph = lineage.build_graph(facts.summary)
    if not graph.nodes:
        return paragraph("No executions recorded.", "muted")
    return (
        paragraph(
            "Executions (boxes, coloured by state) and the artifacts they read and "
            "wrote (rounded), from ML Metadata events; dashed: made by an earlier "
            "run; dotted edges: artifacts a Resolver looked up."
        )
        + figure(lineage.draw(graph), "lineage graph")
        + table(
            ["artifact", "type", "uri"],
            [
                (f"#{a.id}", a.type, a.uri)
                for a in sorted(facts.summary.artifact_records.values(), key=lambda a: a.id)
            ],
            numeric=[0],
        )
    )
