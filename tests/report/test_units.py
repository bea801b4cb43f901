"""Report building blocks on hand-made inputs: quick, no pipeline run needed."""

from __future__ import annotations

import os

import pytest

from pipeline.summary import ArtifactRecord, ExecutionRecord, RunSummary
from report import data, lineage, model_card, render, writer
from report.facts import RunFacts, error_from_log
from tests.report.page import parse


def test_class_counts_from_tfdv_standard_histogram():
    # TFDV's standard histogram of labels 0..9: ten buckets of width 0.9, counts spread
    # linearly (as in a real FeatureStats.pb of this pipeline).
    counts = [57, 41, 51, 49, 40, 48, 54, 47, 57, 56]
    buckets = [
        (i * 0.9, (i + 1) * 0.9, c + 0.45 * (1 if i % 2 else -1)) for i, c in enumerate(counts)
    ]
    assert data.class_counts_from_histogram(buckets) == counts
    # A split holding only one (out-of-range) id: one degenerate bucket, no class gets it.
    assert data.class_counts_from_histogram([(12.0, 12.0, 50.0)]) == [0] * 10
    assert data.class_counts_from_histogram([(3.0, 3.0, 7.0)]) == [0, 0, 0, 7] + [0] * 6


def test_distances():
    assert data.linf_distance([10, 10], [10, 10]) == 0
    assert data.linf_distance([20, 0], [10, 10]) == pytest.approx(0.5)
    assert data.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert data.js_distance([1, 2, 3], [1, 2, 3]) == pytest.approx(0.0)


def test_accuracy_interval_narrows_with_more_examples():
    low_small, high_small = model_card.accuracy_interval(0.5, 100)
    low_big, high_big = model_card.accuracy_interval(0.5, 10_000)
    assert low_small < low_big < 0.5 < high_big < high_small
    assert high_small - low_small == pytest.approx(0.192, abs=0.005)  # ~ 2 * 1.96 * 0.05


def test_error_from_log_takes_the_last_exception_with_its_message(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(
        "INFO start\nValueError: an early one\nTraceback (most recent call last):\n"
        '  File "x.py", line 1\n'
        "pipeline.components.anomalies_gate.DataAnomaliesError: stops:\n"
        "  split 'train', feature 'label': Out-of-range\n"
        " [while running 'Run[AnomaliesGate]']\nINFO after\n"
    )
    assert error_from_log(log) == (
        "pipeline.components.anomalies_gate.DataAnomaliesError: "
        "stops:\n  split 'train', feature 'label': Out-of-range"
    )


def hostile_facts(tmp_path) -> RunFacts:
    """A failed run whose every artifact-sourced string tries to inject markup."""
    evil = "<script>alert(1)</script>"
    summary = RunSummary(run_id=evil, run_started=1.0e9)
    summary.executions = [
        ExecutionRecord(
            1,
            "ImportExampleGen",
            "x.ImportExampleGen",
            "COMPLETE",
            1e9,
            1.0,
            outputs={"examples": [1]},
        ),
        ExecutionRecord(2, f"Gate{evil}", "x.Gate", "FAILED", 1e9, 0.5, inputs={"examples": [1]}),
    ]
    summary.artifact_records = {1: ArtifactRecord(1, "Examples", f"/tmp/{evil}")}
    facts = RunFacts(summary=summary, output_root=tmp_path, failure=f"Error: {evil}")
    facts.anomalies = ['<img src=x onerror="alert(2)">']
    facts.schema_text = "</pre><script>alert(3)</script>"
    facts.problems = [f"pixel statistics (train): {evil}"]
    return facts


def test_text_from_artifacts_is_escaped_and_a_failed_run_still_renders(tmp_path):
    html = render.render(hostile_facts(tmp_path))
    page = parse(html)
    assert page.scripts == 0 and "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "alert(2)" in page.text and "alert(3)" in page.text  # shown as text
    assert "FAILED at Gate<script>alert(1)</script>" in page.text
    assert "No training history" in page.text and "No Evaluator output" in page.text
    assert "not evaluated" in page.text and "Not pushed: the Pusher did not run" in page.text
    assert page.section_ids[:8] == [
        "overview",
        "data",
        "validation",
        "training",
        "evaluation",
        "blessing",
        "lineage",
        "model-card",
    ]
    assert "problems" in page.section_ids


def test_lineage_layout_puts_producers_left_of_consumers(tmp_path):
    graph = lineage.build_graph(hostile_facts(tmp_path).summary)
    assert ("e1", "a1", "io") in graph.edges and ("a1", "e2", "io") in graph.edges
    for src, dst, _ in graph.edges:
        assert graph.nodes[src].column < graph.nodes[dst].column


def test_latest_link_moves_atomically(tmp_path):
    root = tmp_path / "reports"
    for name in ("run-a", "run-b"):
        (root / name).mkdir(parents=True)
        (root / name / "index.html").write_text(name)
    writer._point_latest(root, root / "run-a")
    assert (root / "latest" / "index.html").read_text() == "run-a"
    writer._point_latest(root, root / "run-b")
    assert os.readlink(root / "latest") == "run-b"
    assert (root / "latest" / "index.html").read_text() == "run-b"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "run-a", "run-b"]


def test_run_ids_become_safe_directory_names():
    assert writer.safe_name("20261125-231002.398745") == "20261125-231002.398745"
    assert (
        writer.safe_name("cifar10.manual__2026-11-25T23:10:00+00:00")
        == "cifar10.manual__2026-11-25T23_10_00_00_00"
    )
    assert writer.safe_name("../../etc") == "etc"
