"""The release's pipeline run is derived from a RunConfig (RunConfig.with_changes), never
by rebuilding command-line flags."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from models.hparams import HParams
from pipeline.run_config import RunConfigError
from rollout.release import pipeline_run


def release_args(**given) -> argparse.Namespace:
    names = ("data_root", "limit", "epochs", "accuracy_lower_bound", "model_name")
    return argparse.Namespace(output_root="/tmp/release-out", **{n: given.get(n) for n in names})


def test_the_release_settings_apply_over_the_pipeline_flags():
    config = pipeline_run.release_run_config(
        release_args(data_root="/data", epochs=2, accuracy_lower_bound=0.0),
        ["--beam-workers", "2", "--limit", "50", "--epochs", "7"],
    )
    assert config.output_root == Path("/tmp/release-out") and config.new_span
    assert config.data_root == Path("/data")
    assert config.hparams.epochs == 2, "the release's --epochs wins over the pipeline flags'"
    assert config.limit == 50 and config.beam_workers == 2
    assert config.accuracy_lower_bound == 0.0


def test_settings_not_given_keep_the_pipeline_defaults():
    config = pipeline_run.release_run_config(release_args(), [])
    assert config.data_root is None and config.limit is None
    assert config.hparams == HParams() and config.accuracy_lower_bound is None


@pytest.mark.parametrize(
    "given, flags, message",
    [
        ({"epochs": 0}, [], "hyperparameters out of range"),
        ({}, ["--no-such-flag"], "unrecognized"),
    ],
)
def test_bad_settings_are_a_run_config_error(given, flags, message):
    with pytest.raises(RunConfigError, match=message):
        pipeline_run.release_run_config(release_args(**given), flags)


def test_a_bad_setting_is_exit_2_before_any_work(capsys):
    assert pipeline_run.train_and_push(release_args(limit=0), []) == (2, None)
    assert capsys.readouterr().err == "error: limit must be at least 1\n"


def test_the_model_and_pipeline_names_follow_the_release_data_root(tmp_path):
    """An image folder given to the release (not in the pipeline flags) names the model and
    the pipeline as the pipeline's own rule does; --model-name and the pipeline flags win."""
    photos = tmp_path / "my photos"
    for name in ("cat", "dog"):
        (photos / name).mkdir(parents=True)
    config = pipeline_run.release_run_config(release_args(data_root=str(photos)), [])
    assert (config.model_name, config.pipeline_name) == ("my-photos", "my-photos")
    assert pipeline_run.release_model_name(release_args(data_root=str(photos)), []) == "my-photos"
    named = pipeline_run.release_run_config(
        release_args(data_root=str(photos), model_name="pets"), []
    )
    assert (named.model_name, named.pipeline_name) == ("pets", "pets")
    flagged = pipeline_run.release_run_config(
        release_args(data_root=str(photos)), ["--model-name", "zoo", "--pipeline-name", "p"]
    )
    assert (flagged.model_name, flagged.pipeline_name) == ("zoo", "p")
