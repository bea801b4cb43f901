"""Report building blocks on hand-made inputs: quick, no pipeline run needed."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pipeline.summary import ArtifactRecord, ExecutionRecord, RunSummary
from report import data, lineage, model_card, plots, render, training, writer
from report.facts import RunFacts, error_from_log
from tests.report.page import decode_png, parse


def test_class_counts_from_tfdv_standard_histogram():
    # TFDV's standard histogram of labels 0..9: ten buckets of width 0.9, counts spread
    # linearly (as in a real FeatureStats.pb of this pipeline).
    counts = [57, 41, 51, 49, 40, 48, 54, 47, 57, 56]
    buckets = [
        (i * 0.9, (i + 1) * 0.9, c + 0.45 * (1 if i % 2 else -1)) for i, c in enumerate(counts)
    ]
    assert data.class_counts_from_histogram(buckets, 10) == counts
    # A split holding only one (out-of-range) id: one degenerate bucket, no class gets it.
    assert data.class_counts_from_histogram([(12.0, 12.0, 50.0)], 10) == [0] * 10
    assert data.class_counts_from_histogram([(3.0, 3.0, 7.0)], 10) == [0, 0, 0, 7] + [0] * 6
    # Three classes: TFDV's 10 buckets over [0, 2] (width 0.2) hold each id in its own.
    three = [(i * 0.2, (i + 1) * 0.2, 0.0) for i in range(10)]
    three[0], three[5], three[9] = (0.0, 0.2, 12.0), (1.0, 1.2, 7.0), (1.8, 2.0, 3.0)
    assert data.class_counts_from_histogram(three, 3) == [12, 7, 3]


def test_categorical_label_counts_cover_more_classes_than_tfdvs_top_values():
    """TFDV lists the 20 most frequent values in ``top_values`` and every value in the rank
    histogram: a 50-class split's counts come from the latter, all of them."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    feature = statistics_pb2.FeatureNameStatistics()
    strings = feature.string_stats
    strings.common_stats.num_missing = 2
    for label in range(50):
        strings.rank_histogram.buckets.add(label=str(label), sample_count=100 + label)
    for label in range(49, 29, -1):
        strings.top_values.add(value=str(label), frequency=100 + label)
    strings.rank_histogram.buckets.add(label="77", sample_count=3)  # not a class id
    stats = data.SplitStats("train", 0, [0] * 50, 0, 0, 0.0, None)
    data._read_label(feature, stats)
    assert stats.class_counts == [100 + label for label in range(50)]
    assert (stats.other_labels, stats.label_missing) == (3, 2)


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


def _epochs(val_losses: list[float]) -> list[dict[str, float]]:
    return [
        {"epoch": i + 1, "val_loss": v, "loss": v + 0.1, "sparse_categorical_accuracy": 0.5}
        for i, v in enumerate(val_losses)
    ]


def test_early_stopping_sentence_says_what_happened_and_which_weights_were_kept():
    # All 15 epochs ran, the best eval loss was at epoch 12: the best weights are restored.
    losses = [2.0 - 0.1 * i for i in range(12)] + [0.95, 0.96, 0.97]
    text = training.early_stopping_summary(_epochs(losses), {"epochs": 15})
    assert "All 15 configured epochs ran" in text and "did not trigger" in text
    assert "weights of epoch 12 (eval loss 0.9000" in text and "last epoch's (15" in text
    # Stopped after 6 of 15: three epochs (the patience) without improving on epoch 3.
    text = training.early_stopping_summary(_epochs([1.0, 0.9, 0.8, 0.85, 0.81, 0.83]), {})
    assert "Early stopping triggered after epoch 6 of 15" in text
    assert "weights of epoch 3 (eval loss 0.8000" in text
    # The last epoch was the best; the Trainer's custom_config (with its dataset) is read.
    config = {"epochs": 2, "early_stopping_patience": 1, "dataset": {"class_names": ["a"]}}
    text = training.early_stopping_summary(_epochs([1.0, 0.5]), config)
    assert "All 2 configured epochs ran; early stopping (patience 1)" in text
    assert "weights of epoch 2 (eval loss 0.5000, the best): the last epoch's" in text
    # Ties keep the first epoch (Keras improves only on a strictly lower loss).
    assert "weights of epoch 1 " in training.early_stopping_summary(_epochs([0.5, 0.5]), {})
    assert "does not say" in training.early_stopping_summary([{"epoch": 1}], {})


def test_epoch_axes_tick_whole_epochs_only():
    figure = plots.training_figure(_epochs([1.0, 0.9, 0.8]))
    for ax in figure.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_gray_images_and_any_class_count_render(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (3, 40, 24, 1), np.uint8)
    png = decode_png(plots.image_grid(gray, ["a", "b", "c"]))
    assert png.width > 200
    one_channel = {"train": [list(np.full(32, 1 / 32))], "test": [list(np.full(32, 1 / 32))]}
    assert decode_png(plots.pixel_histograms(one_channel)).width > 200
    assert plots.channel_names(1) == ("gray",) and plots.channel_names(3) == ("R", "G", "B")
    names = [f"class {i}" for i in range(37)]
    wide = decode_png(plots.class_balance({"train": [1 / 37] * 37}, names))
    assert wide.width > decode_png(plots.class_balance({"train": [0.5, 0.5]}, names[:2])).width


def _long_edge_summary() -> RunSummary:
    """A -> a1 -> B -> a2 -> C -> a3 -> D, and a1 read by D too: an edge across 5 columns."""
    summary = RunSummary(run_id="r")
    chain = [("A", {}, {"out": [1]}), ("B", {"in": [1]}, {"out": [2]})]
    chain += [("C", {"in": [2]}, {"out": [3]}), ("D", {"in": [3], "early": [1]}, {})]
    summary.executions = [
        ExecutionRecord(i + 1, name, f"x.{name}", "COMPLETE", 1e9, 1.0, inputs=ins, outputs=outs)
        for i, (name, ins, outs) in enumerate(chain)
    ]
    summary.artifact_records = {i: ArtifactRecord(i, "Examples", f"/a/{i}") for i in (1, 2, 3)}
    return summary


def test_lineage_long_edges_bend_through_free_slots_not_labels():
    graph = lineage.build_graph(_long_edge_summary())
    long_edge = graph.edges.index(("a1", "e4", "io"))
    route = graph.route(long_edge)
    columns = [c for c, _ in route]
    assert columns == list(range(columns[0], columns[-1] + 1)) and len(route) > 2
    occupied = {(n.column, n.row) for n in graph.nodes.values()}
    for index in range(len(graph.edges)):
        for column, row in graph.bends[index]:
            # A bend takes a slot of its own: no box is drawn within a row of it.
            assert all(abs(row - r) >= 1 for c, r in occupied if c == column), (index, column, row)
    assert decode_png(lineage.draw(graph)).width > 200


def test_unique_images_counts_distinct_encoded_images(tmp_path):
    import tensorflow as tf

    from report.examples import unique_images

    split = tmp_path / "Split-train"
    split.mkdir()
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(split / "data.gz"), options) as writer:
        for image in (b"one", b"two", b"one", b"three"):
            example = tf.train.Example()
            example.features.feature["image_raw"].bytes_list.value.append(image)
            example.features.feature["label"].int64_list.value.append(0)
            writer.write(example.SerializeToString())
    assert unique_images(str(tmp_path), "train") == 3


def test_a_gray_three_class_run_reads_its_own_classes_everywhere(tmp_path):
    """A run on an image folder (3 gray classes at 40x24): tables, figures, the model card
    and the predictions line use the run's description, not CIFAR-10's."""
    from models.dataset import DatasetDescription
    from report.evaluation import EvaluationFacts, Predictions

    dataset = DatasetDescription(
        ("cat", "dog", "ship"), 40, 24, 1, source={"kind": "image_folder", "path": "/d/pets"}
    )
    facts = RunFacts(summary=RunSummary(run_id="r1", run_started=1.0e9), output_root=tmp_path)
    facts.dataset, facts.dataset_source = dataset, "/out/examples/pets/span-1/dataset.json"
    facts.summary.predicted, facts.summary.unreadable = 7, 1
    facts.summary.predictions_file = "/out/predictions.csv"
    facts.data.span = 1
    facts.data.splits = [
        data.SplitStats(name, 30, [10, 10, 10], 0, 0, 900.0, 29) for name in ("train", "test")
    ]
    histogram = [list(np.full(data.PIXEL_BINS, 1 / data.PIXEL_BINS))]
    facts.data.pixels = [data.PixelStats("train", 30, [120.0], [40.0], histogram, 120.0)]
    facts.evaluation = EvaluationFacts(
        accuracy={"candidate": 0.7},
        example_count=30,
        per_class={"candidate": [0.9, 0.5, 0.7]},
        per_class_count=[10, 10, 10],
    )
    labels = np.repeat(np.arange(3), 10)
    predicted = np.where(labels == 1, 0, labels)  # every dog taken for a cat
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 40, 24, 1), np.uint8)
    facts.predictions = Predictions(labels, predicted, np.full(30, 0.8), images, 3)
    page = parse(render.render(facts))
    assert page.text.count("pets pipeline run r1") >= 1
    assert "3 classes (cat, dog, ship), model input 40x24, gray (1 channel)" in page.text
    assert "label not 0-2" in page.text and "gray mean / std" in page.text
    assert "Per class from 0.500 (dog) to 0.900 (cat)" in page.text
    assert "Most frequent mistake: dog taken for cat (10 of 10 test images)" in page.text
    assert "(33% if balanced)" in page.text and "one of the 3 labels" in page.text
    assert "predictions (--infer-dir) 7 image(s) -> /out/predictions.csv" in page.text
    for src in page.images:
        assert decode_png(src).width > 100
    # class balance, gray pixels, per class, confusion, gray grid (no lineage: no executions)
    assert len(page.images) == 5
