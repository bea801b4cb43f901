"""The whole pipeline under BeamDagRunner on real CIFAR-10 images (slow: ~3-4 minutes)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ingest.spans import to_example
from models import features
from pipeline import configs, summary
from tests.conftest import run_pipeline
from tests.system_deps import shared_cifar


def runner_metadata(root):
    from tfx.orchestration import metadata

    return metadata.sqlite_metadata_connection_config(str(configs.metadata_path(root)))


pytestmark = pytest.mark.slow

COMPONENTS = {
    "ImportExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "AnomaliesGate",
    "Transform",
    "Trainer",
    "latest_blessed_model_resolver",
    "Evaluator",
    "InfraValidator",
    "Pusher",
}


@pytest.fixture(scope="module")
def first(first_pipeline_run):
    root = first_pipeline_run.output_root
    result = summary.read_run_from(runner_metadata(root), run_id=first_pipeline_run.run_id)
    return first_pipeline_run, result


def test_every_component_ran_and_produced_artifacts(first):
    run, result = first
    assert run.exit_code == 0
    assert set(result.components) == COMPONENTS
    assert set(result.components.values()) == {"COMPLETE"}
    for node in COMPONENTS - {"latest_blessed_model_resolver", "AnomaliesGate"}:
        uris = result.artifacts[node]
        assert uris, f"{node} recorded no output artifact"
        assert any(
            any(p.is_file() for p in __import__("pathlib").Path(u).rglob("*")) for u in uris
        ), f"{node} wrote no files"


def test_model_is_blessed_and_pushed_in_tf_serving_layout(first):
    run, result = first
    assert result.blessed and result.pushed and result.infra_blessed
    (version,) = run.versions()
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    assert result.pushed_destination == str(version)
    assert result.accuracy is not None and result.accuracy >= 0.12
    assert not [p for p in run.serving_model_dir.iterdir() if p.name.startswith(".")], (
        "no staging leftovers"
    )


def test_signatures_agree_on_real_images(pushed_model_dir):
    loaded = tf.saved_model.load(str(pushed_model_dir))
    images = shared_cifar("test").images[:32]
    serialized = tf.constant([to_example(i, 0).SerializeToString() for i in images])
    by_examples = loaded.signatures[features.SIGNATURE_EXAMPLES](examples=serialized)
    by_images = loaded.signatures[features.SIGNATURE_IMAGES](images=tf.constant(images))
    np.testing.assert_array_equal(
        by_examples[features.OUTPUT_PROBABILITIES].numpy(),
        by_images[features.OUTPUT_PROBABILITIES].numpy(),
    )
    np.testing.assert_array_equal(
        by_examples[features.OUTPUT_CLASS_IDS].numpy(), by_images[features.OUTPUT_CLASS_IDS].numpy()
    )


def test_worse_candidate_is_compared_to_baseline_and_not_pushed(first, capsys):
    """Second run: an untrained candidate (learning rate 0). The resolver must hand the first
    model to the Evaluator as baseline, and the change threshold must block the push."""
    run, first_result = first
    versions_before = run.versions()
    second = run_pipeline(
        run.output_root, "--learning-rate", "0", "--accuracy-max-drop", "0", capsys=capsys
    )
    assert second.exit_code == 0
    result = summary.read_run(configs.metadata_path(run.output_root))
    assert result.components["Trainer"] == "COMPLETE"
    assert result.components["Transform"] == "CACHED"
    assert result.baseline_accuracy == pytest.approx(first_result.accuracy)
    assert result.accuracy < result.baseline_accuracy
    assert result.blessed is False and result.pushed is False
    assert any(
        c.startswith("overall: ") and "change vs baseline" in c for c in result.failed_checks
    )
    assert run.versions() == versions_before
    assert "blessed: False" in second.stdout
