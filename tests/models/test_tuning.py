"""The Tuner module code, run by TFX's own Tuner executor on a real Transform graph.

The end-to-end test is what the pipeline does with ``--tune``: TFX's ``Executor.Do`` calls
``models.tuning.tuner_fn``, searches, writes ``best_hyperparameters``; ``run_fn`` then
trains and exports a model with those values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import keras_tuner
import pytest
import tf_keras
from tfx.components.tuner import executor as tuner_executor
from tfx.dsl.components.base import base_executor
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.utils import json_utils, proto_utils

from models import dataset, model, tuning
from models.hparams import HParams
from tests.models.conftest import GRAY, exported_widths, trainer_fn_args


def inside_space(values: dict) -> bool:
    return (
        tuning.LEARNING_RATE_RANGE[0] <= values["learning_rate"] <= tuning.LEARNING_RATE_RANGE[1]
        and tuning.DROPOUT_RANGE[0] <= values["dropout_rate"] <= tuning.DROPOUT_RANGE[1]
        and values["conv1_filters"] in tuning.CONV1_CHOICES
        and values["conv2_filters"] in tuning.CONV2_CHOICES
        and values["conv3_filters"] in tuning.CONV3_CHOICES
        and values["dense_units"] in tuning.DENSE_CHOICES
    )


def run_tuner_executor(
    transform_output: dict, work: Path, custom_config: dict
) -> tuple[Path, Path]:
    """TFX's Tuner executor on the fixture's artifacts, wired as create_pipeline wires it."""
    transform_graph = standard_artifacts.TransformGraph()
    transform_graph.uri = transform_output["graph_dir"]
    best = standard_artifacts.HyperParameters()
    best.uri = str(work / "best_hyperparameters")
    results = standard_artifacts.TunerResults()
    results.uri = str(work / "tuner_results")
    exec_properties = {
        "tuner_fn": "models.tuning.tuner_fn",
        "train_args": proto_utils.proto_to_json(trainer_pb2.TrainArgs(splits=["train"])),
        "eval_args": proto_utils.proto_to_json(trainer_pb2.EvalArgs(splits=["eval"])),
        "custom_config": json_utils.dumps(custom_config),
    }
    executor = tuner_executor.Executor(
        base_executor.BaseExecutor.Context(tmp_dir=str(work / "tmp"), unique_id="1")
    )
    executor.Do(
        {"examples": [transform_output["examples"]], "transform_graph": [transform_graph]},
        {"best_hyperparameters": [best], "tuner_results": [results]},
        exec_properties,
    )
    return (Path(best.uri) / "best_hyperparameters.txt", Path(results.uri) / "tuner_results.json")


def test_search_space_defaults_are_the_untuned_model():
    hp = tuning.search_space(HParams())
    assert sorted(hp.values) == sorted(tuning.TUNED)
    assert hp.values == {name: getattr(HParams(), name) for name in tuning.TUNED}
    lr = hp.get_config()["space"][0]["config"]
    assert (lr["name"], lr["sampling"]) == ("learning_rate", "log")


def test_search_space_refuses_untuned_values_outside_it():
    with pytest.raises(ValueError, match="learning_rate=0.01.*dense_units=100"):
        tuning.search_space(HParams(learning_rate=0.01, dense_units=100))


def test_oracle_tries_the_defaults_first_then_other_points_inside_the_space(tmp_path):
    oracle = tuning.BaselineFirstRandomSearchOracle(
        objective=keras_tuner.Objective(tuning.OBJECTIVE, "max"),
        max_trials=6,
        hyperparameters=tuning.search_space(),
        allow_new_entries=False,
        seed=1,
    )
    oracle._set_project_dir(str(tmp_path), "project")  # where it records its trials
    seen = []
    for i in range(6):
        trial = oracle.create_trial(f"tuner{i}")  # one tuner id per trial: no reuse
        seen.append(dict(trial.hyperparameters.values))
    assert seen[0] == tuning.search_space().values
    assert all(inside_space(v) for v in seen)
    assert len({json.dumps(v, sort_keys=True) for v in seen}) == 6


def test_tuner_executor_writes_best_hyperparameters_that_run_fn_trains(
    transform_output, tmp_path, monkeypatch
):
    built = []
    real_model_from_hparams = model.model_from_hparams

    def spy(hp: HParams, description=dataset.CIFAR10):
        built.append(real_model_from_hparams(hp, description))
        return built[-1]

    real_score_trial = keras_tuner.Oracle.score_trial

    def untuned_scores_last(self, trial):
        # Real training and scores; only the untuned first trial is ranked last, so the best
        # is a tuned configuration (on 8 eval images, all trials tie and the first wins).
        # Patched on KerasTuner's Oracle: TFX reloads models.tuning before calling tuner_fn.
        real_score_trial(self, trial)
        if trial.trial_id == "0":
            trial.score -= 1.0

    monkeypatch.setattr(model, "model_from_hparams", spy)
    monkeypatch.setattr(keras_tuner.Oracle, "score_trial", untuned_scores_last)
    best_path, results_path = run_tuner_executor(
        transform_output, tmp_path, {"max_trials": 3, "epochs": 1, "batch_size": 16, "seed": 7}
    )

    # Every trial trained a tf_keras model; none ever was a Keras 3 model (the #1039 trap).
    assert len(built) == 3
    assert all(isinstance(m, tf_keras.Model) and not isinstance(m, keras.Model) for m in built)
    best = json.loads(best_path.read_text())
    assert inside_space(best["values"]) and sorted(best["values"]) == sorted(tuning.TUNED)
    results = json.loads(results_path.read_text())
    assert len(results) == 3
    scores = [r["score"] for r in results]
    assert all(0.0 <= s <= 1.0 and not math.isnan(s) for s in scores[:2]) and scores[2] < 0
    assert scores == sorted(scores, reverse=True)
    assert {k: results[0][k] for k in tuning.TUNED} == best["values"]
    assert best["values"] != tuning.search_space().values
    # The first trial is the untuned model; each trial left its epoch history.
    [first_dir] = (tmp_path / "tmp").rglob("trial_0")
    first = json.loads((first_dir / "trial.json").read_text())
    assert first["hyperparameters"]["values"] == tuning.search_space().values
    history = json.loads((first_dir / model.HISTORY_FILE).read_text())
    assert len(history["epochs"]) == 1 and history["trial_seconds"] > 0

    # The Trainer's view: best_hyperparameters as fn_args.hyperparameters.
    monkeypatch.setattr(model, "model_from_hparams", real_model_from_hparams)
    run_fn_work = tmp_path / "trainer"
    model.run_fn(
        trainer_fn_args(
            transform_output, run_fn_work, {"epochs": 1, "batch_size": 16}, hyperparameters=best
        )
    )
    widths = exported_widths(run_fn_work / "serving_model")
    assert widths == {
        **{
            k: best["values"][k]
            for k in ("conv1_filters", "conv2_filters", "conv3_filters", "dense_units")
        },
        "classes": 10,
    }


def test_a_search_where_every_trial_fails_names_the_cause(transform_output, tmp_path, monkeypatch):
    def broken(hp: HParams, description=dataset.CIFAR10):
        raise RuntimeError("model construction exploded")

    monkeypatch.setattr(model, "model_from_hparams", broken)
    with pytest.raises(RuntimeError, match="(?s)all 2 tuning trial.*construction exploded"):
        run_tuner_executor(transform_output, tmp_path, {"max_trials": 2, "epochs": 1})


def test_tuner_fn_keeps_custom_config_strict(transform_output, tmp_path):
    fn_args = trainer_fn_args(transform_output, tmp_path, {"max_trials": 2, "epoch": 3})
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        tuning.tuner_fn(fn_args)
    fn_args = trainer_fn_args(transform_output, tmp_path, {"max_trials": 0})
    with pytest.raises(ValueError, match="max_trials"):
        tuning.tuner_fn(fn_args)


def test_trials_train_the_cnn_of_the_dataset_description(
    gray_transform_output, tmp_path, monkeypatch
):
    """The Tuner gets the Trainer's description: trials build the gray 3-class CNN."""
    built = []
    real_model_from_hparams = model.model_from_hparams

    def spy(hp: HParams, description=dataset.CIFAR10):
        built.append(real_model_from_hparams(hp, description))
        return built[-1]

    monkeypatch.setattr(model, "model_from_hparams", spy)
    custom_config = {
        "max_trials": 1,
        "epochs": 1,
        "batch_size": 16,
        dataset.CUSTOM_CONFIG_KEY: GRAY.to_dict(),
    }
    best_path, _ = run_tuner_executor(gray_transform_output, tmp_path, custom_config)
    assert [(m.input_shape, m.output_shape) for m in built] == [((None, 24, 20, 1), (None, 3))]
    assert json.loads(best_path.read_text())["values"] == tuning.search_space().values
