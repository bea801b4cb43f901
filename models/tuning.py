"""Tuner module code: ``tuner_fn`` for TFX's standard ``Tuner`` component.

The search space covers the reference CNN's learning rate, dropout, filter counts and dense
width (:func:`search_space`). The Tuner writes the best values as ``best_hyperparameters``;
the Trainer's ``run_fn`` applies them over its ``custom_config``.

Why not ``keras_tuner.RandomSearch``: KerasTuner 1.4 imports Keras 3, and its ``Tuner``
class builds, fits and checkpoints the model with Keras 3 APIs, so it rejects the
``tf_keras`` models TFX 1.16 needs (keras-team/keras-tuner#1039). :class:`CnnTuner` is a
``BaseTuner`` instead: KerasTuner's oracle picks the values and records the trials, and
``run_trial`` trains the ``tf_keras`` model itself, the way ``run_fn`` does, and returns
plain floats. No model ever reaches KerasTuner's code.

``custom_config``: ``max_trials`` (the trial budget), the dataset description (key
``dataset``, as the Trainer gets it: the trials train the same CNN for the same input shape
and classes) plus any :class:`HParams` field, with ``epochs`` meaning epochs per trial.
The values of the tuned fields given there are the search's first trial, so the best
configuration found scores at least as well as the untuned one on the tuner's objective.
"""

from __future__ import annotations

import posixpath
import tempfile
import time
from dataclasses import asdict
from typing import Any

import keras_tuner
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models import model as model_lib
from models.dataset import CIFAR10, DatasetDescription, from_custom_config
from models.hparams import HParams, hparams_config

# What the search maximises: accuracy on the eval split (the Trainer's validation data) of
# the model as the Trainer would export it. The test split stays the Evaluator's.
OBJECTIVE = "val_sparse_categorical_accuracy"
DEFAULT_MAX_TRIALS = 4
PROJECT_NAME = model_lib.MODEL_NAME

LEARNING_RATE_RANGE = (1e-4, 3e-3)  # sampled log-uniformly
DROPOUT_RANGE = (0.1, 0.5)
CONV1_CHOICES = (16, 32, 48, 64)
CONV2_CHOICES = (32, 64, 96, 128)
CONV3_CHOICES = (32, 64, 96, 128)
DENSE_CHOICES = (32, 64, 128, 256)
TUNED = (
    "learning_rate",
    "dropout_rate",
    "conv1_filters",
    "conv2_filters",
    "conv3_filters",
    "dense_units",
)


def search_space(base: HParams = HParams()) -> keras_tuner.HyperParameters:
    """The tuned hyperparameters, named as :class:`HParams` fields, defaulting to ``base``.

    Same names as ``HParams`` so the best values feed ``HParams.from_custom_config`` as they
    are (a misspelt name fails there). Raises ``ValueError`` if a value of ``base`` lies
    outside the space: it could not be the first trial.
    """
    outside = []
    if not LEARNING_RATE_RANGE[0] <= base.learning_rate <= LEARNING_RATE_RANGE[1]:
        outside.append(f"learning_rate={base.learning_rate} not in {LEARNING_RATE_RANGE}")
    if not DROPOUT_RANGE[0] <= base.dropout_rate <= DROPOUT_RANGE[1]:
        outside.append(f"dropout_rate={base.dropout_rate} not in {DROPOUT_RANGE}")
    for name, choices in (
        ("conv1_filters", CONV1_CHOICES),
        ("conv2_filters", CONV2_CHOICES),
        ("conv3_filters", CONV3_CHOICES),
        ("dense_units", DENSE_CHOICES),
    ):
        if getattr(base, name) not in choices:
            outside.append(f"{name}={getattr(base, name)} not in {choices}")
    if outside:
        raise ValueError(
            "the untuned values must lie in the search space (they are its first "
            f"trial): {'; '.join(outside)}"
        )
    hp = keras_tuner.HyperParameters()
    hp.Float("learning_rate", *LEARNING_RATE_RANGE, sampling="log", default=base.learning_rate)
    hp.Float("dropout_rate", *DROPOUT_RANGE, default=base.dropout_rate)
    hp.Choice("conv1_filters", list(CONV1_CHOICES), default=base.conv1_filters)
    hp.Choice("conv2_filters", list(CONV2_CHOICES), default=base.conv2_filters)
    hp.Choice("conv3_filters", list(CONV3_CHOICES), default=base.conv3_filters)
    hp.Choice("dense_units", list(DENSE_CHOICES), default=base.dense_units)
    return hp


class BaselineFirstRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """Random search whose first trial is the space's defaults (the untuned model).

    With a budget of a handful of trials, random draws alone can all score below the model
    the pipeline trains anyway; measuring it first means the search returns it when nothing
    beats it. The oracle records its values, so random draws never repeat it.
    """

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if not self.trials:
            return {
                "status": keras_tuner.engine.trial.TrialStatus.RUNNING,
                "values": {hp.name: hp.default for hp in self.hyperparameters.space},
            }
        return super().populate_space(trial_id)


class CnnTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """Runs each trial by training the ``tf_keras`` CNN as ``run_fn`` would.

    Trial models are not saved: the Trainer retrains with the best values on its own
    epochs, so ``save_model``/``load_model`` (only used by ``get_best_models``) stay unused.
    """

    def __init__(
        self,
        oracle: keras_tuner.Oracle,
        data: model_lib.TrainingData,
        base: HParams,
        directory: str,
        project_name: str = PROJECT_NAME,
        description: DatasetDescription = CIFAR10,
    ) -> None:
        # overwrite: one search per Tuner execution, never resumed from an older project.
        super().__init__(
            oracle=oracle,
            hypermodel=None,
            directory=directory,
            project_name=project_name,
            overwrite=True,
        )
        self.data = data
        self.base = base
        self.description = description

    def trial_hparams(self, trial: keras_tuner.engine.trial.Trial) -> HParams:
        """``base`` with the trial's values, through the same strict check as ``run_fn``."""
        return HParams.from_custom_config({**asdict(self.base), **trial.hyperparameters.values})

    def run_trial(
        self, trial: keras_tuner.engine.trial.Trial, *fit_args: Any, **fit_kwargs: Any
    ) -> dict[str, float]:
        """Train one configuration; return its metrics on the eval split (plain floats).

        ``fit`` arguments are not used: the data comes from ``TrainingData``, batched for
        the trial's batch size and seed exactly as ``run_fn`` batches it.
        """
        started = time.monotonic()
        hp = self.trial_hparams(trial)
        keras.backend.clear_session()  # free the previous trial's graph and layer names
        keras.utils.set_random_seed(hp.seed)
        train, evaluation = self.data.batched(hp)
        model = model_lib.model_from_hparams(hp, self.description)
        history = model_lib.EpochHistory(
            posixpath.join(self.get_trial_dir(trial.trial_id), model_lib.HISTORY_FILE)
        )
        model_lib.fit(model, train, evaluation, hp, history)
        scores = model.evaluate(evaluation, verbose=0, return_dict=True)
        seconds = time.monotonic() - started
        history.write(trial_seconds=seconds)
        return {
            OBJECTIVE: float(scores["sparse_categorical_accuracy"]),
            "val_loss": float(scores["loss"]),
            "epochs_trained": float(len(history.epochs)),
            "trial_seconds": seconds,
        }

    def on_search_end(self) -> None:
        """Fail the search when no trial completed, with the first failure's traceback.

        KerasTuner records a trial that raised as failed and carries on; if all did, TFX's
        executor would die on an empty ``get_best_hyperparameters()`` with an IndexError
        that names no cause.
        """
        super().on_search_end()
        trials = list(self.oracle.trials.values())
        done = keras_tuner.engine.trial.TrialStatus.COMPLETED
        if trials and not any(t.status == done for t in trials):
            raise RuntimeError(
                f"all {len(trials)} tuning trial(s) failed; the first:\n{trials[0].message}"
            )

    def load_model(self, trial: keras_tuner.engine.trial.Trial) -> None:
        raise NotImplementedError(
            "CnnTuner keeps no trial models; the Trainer retrains with get_best_hyperparameters()"
        )


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """Build the search for TFX's Tuner executor, which then calls ``tuner.search()``."""
    description = from_custom_config(fn_args.custom_config)
    config = hparams_config(fn_args.custom_config)
    max_trials = int(config.pop("max_trials", DEFAULT_MAX_TRIALS))
    if max_trials < 1:
        raise ValueError(f"max_trials must be at least 1, got {max_trials}")
    base = HParams.from_custom_config(config)
    data = model_lib.TrainingData(
        fn_args, tft.TFTransformOutput(fn_args.transform_graph_path), description
    )
    oracle = BaselineFirstRandomSearchOracle(
        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
        max_trials=max_trials,
        hyperparameters=search_space(base),
        allow_new_entries=False,
        seed=base.seed,
    )
    tuner = CnnTuner(
        oracle,
        data,
        base,
        directory=fn_args.working_dir or tempfile.mkdtemp(prefix="cnn-tuner-"),
        description=description,
    )
    return TunerFnResult(tuner=tuner, fit_kwargs={})
