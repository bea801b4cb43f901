"""The Evaluator's native accuracy gives Keras' SparseCategoricalAccuracy, example by example."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras as keras
from tensorflow_model_analysis.metrics import metric_types

from pipeline.evaluation_metrics import ACCURACY_NAME, SparseCategoricalAccuracy


def _combine(labels: np.ndarray, probabilities: np.ndarray, chunks: int = 3) -> float:
    (computation,) = SparseCategoricalAccuracy().computations()
    combiner = computation.combiner
    parts = []
    for idx in np.array_split(np.arange(len(labels)), chunks):  # merged like Beam would
        acc = combiner.create_accumulator()
        for i in idx:
            acc = combiner.add_input(
                acc,
                metric_types.StandardMetricInputs(
                    labels=np.array([labels[i]]),
                    predictions=probabilities[i],
                    example_weights=np.array([1.0]),
                ),
            )
        parts.append(acc)
    (value,) = combiner.extract_output(combiner.merge_accumulators(parts)).values()
    return value


def test_matches_keras_sparse_categorical_accuracy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=257)
    probabilities = rng.dirichlet(np.ones(10), size=257).astype(np.float32)
    keras_metric = keras.metrics.SparseCategoricalAccuracy()
    keras_metric.update_state(labels, probabilities)
    assert _combine(labels, probabilities) == pytest.approx(float(keras_metric.result()))


def test_key_keeps_the_keras_name():
    (computation,) = SparseCategoricalAccuracy().computations()
    assert [k.name for k in computation.keys] == [ACCURACY_NAME]


def test_multi_label_input_is_refused_clearly():
    with pytest.raises(ValueError, match="one integer label"):
        _combine(np.array([[1, 2]]), np.full((1, 10), 0.1, np.float32), chunks=1)


def test_one_key_per_model_when_a_baseline_is_compared():
    """With a baseline the Evaluator asks for candidate and baseline keys; one shared key
    made TFMA fail to find the label of either model."""
    computations = SparseCategoricalAccuracy().computations(
        model_names=["candidate", "baseline"], output_names=[""]
    )
    keys = sorted(k.model_name for c in computations for k in c.keys)
    assert keys == ["baseline", "candidate"]
