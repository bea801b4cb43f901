"""Two runs side by side: the facts that decide "is B better than A, and why".

Same :class:`RunFacts` as the single-run page, so both pages agree on every number.
"""

from __future__ import annotations

from report import plots
from report.dataset import dataset_title
from report.facts import RunFacts
from report.html import esc, figure, fmt, page, paragraph, table
from report.render import blessing_decision, status_text


def _row(label: str, a: object, b: object) -> tuple[str, str, str]:
    return label, str(a), str(b)


def _examples(facts: RunFacts, split: str) -> int | str:
    stats = facts.data.split(split)
    return stats.num_examples if stats else "n/a"


def render(a: RunFacts, b: RunFacts) -> str:
    ida, idb = a.summary.run_id or "?", b.summary.run_id or "?"
    rows = [
        _row("status", status_text(a), status_text(b)),
        _row("input span", a.data.span, b.data.span),
        *[
            _row(f"{split} examples", _examples(a, split), _examples(b, split))
            for split in ("train", "eval", "test")
        ],
        _row(
            "epochs trained",
            len((a.history or {}).get("epochs", [])),
            len((b.history or {}).get("epochs", [])),
        ),
        _row("test accuracy", fmt(a.summary.accuracy), fmt(b.summary.accuracy)),
        _row(
            "baseline accuracy", fmt(a.summary.baseline_accuracy), fmt(b.summary.baseline_accuracy)
        ),
        _row("blessing", blessing_decision(a)[0], blessing_decision(b)[0]),
        _row(
            "pushed to",
            a.summary.pushed_destination if a.summary.pushed else "not pushed",
            b.summary.pushed_destination if b.summary.pushed else "not pushed",
        ),
        _row("anomalies", _anomalies(a), _anomalies(b)),
    ]
    nodes = list(
        dict.fromkeys(
            [e.node for e in a.summary.executions] + [e.node for e in b.summary.executions]
        )
    )
    states = [(n, *[_state(f, n) for f in (a, b)]) for n in nodes]
    sections = [
        ("facts", "Side by side", table(["", ida, idb], rows)),
        ("components", "Components", table(["component", ida, idb], states)),
    ]
    curves = ""
    if a.history and b.history and a.history.get("epochs") and b.history.get("epochs"):
        curves = figure(
            plots.training_curves(a.history["epochs"], b.history["epochs"], labels=(ida, idb)),
            "training curves of both",
        )
    per_class: dict[str, list[float | None]] = {}
    for facts, run_id in ((a, ida), (b, idb)):
        if facts.evaluation and "candidate" in facts.evaluation.per_class:
            per_class[run_id] = facts.evaluation.per_class["candidate"]
    body = curves or paragraph("Training curves need both runs' Trainer history.", "muted")
    same_classes = a.dataset.class_names == b.dataset.class_names
    if per_class and same_classes:
        body += figure(
            plots.per_class_accuracy(per_class, "Per-class test accuracy", a.dataset.class_names),
            "per-class accuracy of both",
        )
    elif per_class:
        body += paragraph("Per-class accuracy is not compared: the runs' classes differ.", "muted")
    sections.append(("model", "Training and evaluation", body))
    return page(
        f"{dataset_title(a.dataset)} runs {ida} vs {idb}",
        f"solid/left: {ida}; dashed/right: {idb}",
        sections,
    ).replace(
        "<main>", f"<main><p>{esc('Each run has its own full report; this page compares.')}</p>", 1
    )


def _anomalies(facts: RunFacts) -> str:
    if facts.anomalies is None:
        return "n/a"
    return "none" if not facts.anomalies else f"{len(facts.anomalies)} found"


def _state(facts: RunFacts, node: str) -> str:
    execution = next((e for e in facts.summary.executions if e.node == node), None)
    return "did not run" if execution is None else f"{execution.state} ({execution.seconds:.1f} s)"
