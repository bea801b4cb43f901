"""The report of a real pipeline run (1,000 + 500 images, 3 epochs): every fact on the page
agrees with the artifacts it came from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.dataset import CIFAR10_CLASS_NAMES
from pipeline import summary
from report import facts as facts_module
from report import lineage
from report.examples import read_encoded, read_split
from tests.report.conftest import connection_config
from tests.report.page import decode_png, parse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(first_pipeline_run):
    root = first_pipeline_run.output_root
    return summary.read_run_from(connection_config(root), run_id=first_pipeline_run.run_id)


@pytest.fixture(scope="module")
def page(good_report):
    return parse(good_report.read_text())


@pytest.fixture(scope="module")
def run_facts(first_pipeline_run):
    root = first_pipeline_run.output_root
    return facts_module.collect(connection_config(root), root, run_id=first_pipeline_run.run_id)


def test_written_under_reports_with_a_latest_link(first_pipeline_run, good_report, run):
    reports = first_pipeline_run.output_root / "reports"
    assert good_report == reports / run.run_id / "index.html"
    # Which report "latest" shows is the CLI tests' concern (test_failed_run.py): other
    # tests may have added runs to this shared root by now.
    assert (reports / "latest").is_symlink()
    assert (reports / "latest" / "index.html").is_file()


def test_self_contained_every_figure_a_real_png(page):
    assert page.scripts == 0
    assert all(u.startswith(("data:", "#")) for u in page.urls), [
        u[:60] for u in page.urls if not u.startswith(("data:", "#"))
    ]
    # class balance, pixels, curves, per-class, confusion, misclassified grid, lineage
    assert len(page.images) == 7
    for src in page.images:
        image = decode_png(src)
        assert image.width > 200 and image.height > 100


def test_data_section_matches_the_span(first_pipeline_run, run, page, run_facts):
    manifest = json.loads(
        next((first_pipeline_run.output_root / "examples").glob("span-*/manifest.json")).read_text()
    )
    splits = {s.name: s for s in run_facts.data.splits}
    assert {k: s.num_examples for k, s in splits.items()} == manifest["counts"]
    examples = run.output("ImportExampleGen", "examples")
    assert run_facts.data.span == examples.properties["span"]
    for split, stats in splits.items():  # StatisticsGen's histogram vs. the records themselves
        _, labels = read_split(examples.uri, split, run_facts.dataset)
        exact = np.bincount(labels, minlength=run_facts.dataset.num_classes)
        assert sum(stats.class_counts) == len(labels)
        assert np.abs(np.asarray(stats.class_counts) - exact).max() <= 1, (split, exact)
    train_pixels = next(p for p in run_facts.data.pixels if p.name == "train")
    images, _ = read_split(examples.uri, "train", run_facts.dataset, limit=train_pixels.sample_size)
    np.testing.assert_allclose(train_pixels.mean, images.reshape(-1, 3).mean(axis=0))
    assert f"Input span {run_facts.data.span}: 10 classes (airplane, automobile" in page.text
    assert run_facts.dataset.class_names == CIFAR10_CLASS_NAMES
    assert run_facts.dataset_source.endswith("dataset.json")  # the span's own description
    for split, stats in splits.items():  # distinct images, counted from the records
        encoded, _ = read_encoded(examples.uri, split)
        assert stats.image_unique == len(set(encoded)), split
    assert "Anomalies (ExampleValidator against the schema) none" in page.text


def test_training_section_shows_every_epoch(run, page, run_facts):
    history_file = Path(run.output("Trainer", "model_run").uri, "training_history.json")
    history = json.loads(history_file.read_text())
    assert run_facts.history == history and len(history["epochs"]) == 3
    for row in history["epochs"]:
        assert f"{row['loss']:.4f}" in page.text and f"{row['val_loss']:.4f}" in page.text
    # Three configured epochs cannot trip a patience of 3: the sentence names the kept epoch.
    losses = [row["val_loss"] for row in history["epochs"]]
    best = history["epochs"][losses.index(min(losses))]["epoch"]
    assert "All 3 configured epochs ran; early stopping (patience 3) did not trigger" in page.text
    assert f"The model keeps the weights of epoch {best} " in page.text


def test_evaluation_agrees_with_tfma_and_the_model(run, page, run_facts):
    ev = run_facts.evaluation
    assert ev.accuracy["candidate"] == pytest.approx(run.accuracy)
    assert "SparseCategoricalAccuracy >= 0.12" in page.text
    # The SavedModel re-run on the test split gives TFMA's numbers exactly.
    p = run_facts.predictions
    assert len(p.labels) == ev.example_count == 500
    assert p.accuracy == pytest.approx(run.accuracy, abs=1e-6)
    assert p.confusion.sum(axis=1).tolist() == ev.per_class_count
    per_class = np.diag(p.confusion) / p.confusion.sum(axis=1)
    np.testing.assert_allclose(per_class, ev.per_class["candidate"], atol=1e-6)
    assert f"accuracy {p.accuracy:.4f}" in page.text


def test_blessing_push_and_model_card(run, page):
    assert run.blessed and run.pushed
    assert "Blessing and push blessed passed SparseCategoricalAccuracy >= 0.12" in page.text
    assert f"Pushed to {run.pushed_destination}" in page.text
    for heading in ("Model", "Data", "Intended use", "Metrics", "Limitations"):
        assert f" {heading} " in page.text
    assert f"Test accuracy {run.accuracy:.4f} on 500 images" in page.text


def test_lineage_is_this_runs_graph(run):
    graph = lineage.build_graph(run)
    node = {n.label: k for k, n in graph.nodes.items() if n.kind == "execution"}
    assert set(node) == set(run.components)
    model = f"a{run.output('Trainer', 'model').id}"
    examples = f"a{run.output('ImportExampleGen', 'examples').id}"
    assert (node["Trainer"], model, "io") in graph.edges
    assert (model, node["Evaluator"], "io") in graph.edges
    assert (model, node["Pusher"], "io") in graph.edges
    assert (examples, node["StatisticsGen"], "io") in graph.edges
    for src, dst, kind in graph.edges:
        if kind == "io":
            assert graph.nodes[src].column < graph.nodes[dst].column
