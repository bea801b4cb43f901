"""Model facts: the Evaluator's metrics and thresholds, and predictions on the test split.

Overall and per-class accuracy, the thresholds and the blessing checks come from the
Evaluator's own output (TFMA), so the page shows exactly what gated the push. The confusion
matrix and the misclassified images need per-example predictions, which TFMA does not keep:
those come from running the candidate SavedModel on this run's test split (500 images ~1 s),
through its encoded-image signature, so the images are decoded and resized as in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest import settings as ingest_settings
from models import features
from models.dataset import DatasetDescription
from pipeline import configs
from report.examples import decode, read_encoded

PREDICT_LIMIT = 5000  # test images predicted for the confusion matrix
PREDICT_BATCH = 250


@dataclass
class Threshold:
    """One threshold of the eval config, as a sentence."""

    metric: str
    kind: str  # "value" or "change"
    text: str


@dataclass
class EvaluationFacts:
    accuracy: dict[str, float] = field(default_factory=dict)  # model name -> overall accuracy
    example_count: int | None = None
    per_class: dict[str, list[float | None]] = field(default_factory=dict)  # model -> by class
    per_class_count: list[int] = field(default_factory=list)
    thresholds: list[Threshold] = field(default_factory=list)
    validation_ok: bool | None = None
    failures: list[str] = field(default_factory=list)
    has_baseline: bool = False
    model_locations: dict[str, str] = field(default_factory=dict)


@dataclass
class Predictions:
    """The candidate model's answers on the test split."""

    labels: np.ndarray  # int64 [N]
    predicted: np.ndarray  # int64 [N]
    confidence: np.ndarray  # float [N]: probability of the predicted class
    images: np.ndarray  # uint8 [N, H, W, C] at the model's input shape
    num_classes: int

    @property
    def confusion(self) -> np.ndarray:
        matrix = np.zeros((self.num_classes, self.num_classes), np.int64)
        np.add.at(matrix, (self.labels, self.predicted), 1)
        return matrix

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.labels == self.predicted)) if len(self.labels) else 0.0


def _model_label(name: str) -> str:
    return name or "candidate"


def read_evaluation(evaluation_uri: str, num_classes: int) -> EvaluationFacts:
    """Metrics per slice and model, thresholds and validation of one Evaluator output."""
    import tensorflow_model_analysis as tfma

    facts = EvaluationFacts()
    per_class: dict[str, dict[int, float]] = {}
    counts: dict[int, int] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        keys = metrics.slice_key.single_slice_keys
        label = None
        if keys:
            if len(keys) != 1 or keys[0].column != features.LABEL_KEY:
                continue
            label = int(keys[0].int64_value)
        for kv in metrics.metric_keys_and_values:
            key, value = kv.key, kv.value.double_value.value
            if key.is_diff:
                continue
            model = _model_label(key.model_name)
            if key.name == configs.ACCURACY_METRIC:
                if label is None:
                    facts.accuracy[model] = value
                else:
                    per_class.setdefault(model, {})[label] = value
            elif key.name == "example_count":
                if label is None:
                    facts.example_count = int(value)
                else:
                    counts[label] = int(value)
    facts.per_class = {m: [v.get(k) for k in range(num_classes)] for m, v in per_class.items()}
    facts.per_class_count = [counts.get(k, 0) for k in range(num_classes)]
    facts.has_baseline = "baseline" in facts.accuracy
    _read_config(evaluation_uri, facts)
    result = tfma.load_validation_result(evaluation_uri)
    facts.validation_ok = bool(result.validation_ok)
    return facts


def _read_config(evaluation_uri: str, facts: EvaluationFacts) -> None:
    """The thresholds TFMA applied (eval_config.json: the config as TFMA ran it, so the
    change threshold is absent when there was no baseline)."""
    path = Path(evaluation_uri, "eval_config.json")
    if not path.is_file():
        return
    document = json.loads(path.read_text())
    facts.model_locations = document.get("modelLocations", {})
    for spec in document.get("evalConfig", {}).get("metricsSpecs", []):
        for metric in spec.get("metrics", []):
            for per_slice in metric.get("perSliceThresholds", []):
                facts.thresholds += _thresholds(metric["className"], per_slice["threshold"])
            if "threshold" in metric:
                facts.thresholds += _thresholds(metric["className"], metric["threshold"])


def _thresholds(metric: str, threshold: dict) -> list[Threshold]:
    out = []
    value = threshold.get("valueThreshold", {})
    if "lowerBound" in value:
        out.append(Threshold(metric, "value", f"{metric} >= {value['lowerBound']:g}"))
    if "upperBound" in value:
        out.append(Threshold(metric, "value", f"{metric} <= {value['upperBound']:g}"))
    change = threshold.get("changeThreshold", {})
    if "absolute" in change:
        higher = change.get("direction") == "HIGHER_IS_BETTER"
        sign = ">=" if higher else "<="
        out.append(
            Threshold(
                metric, "change", f"{metric} (candidate - baseline) {sign} {change['absolute']:g}"
            )
        )
    if "relative" in change:
        out.append(
            Threshold(
                metric, "change", f"{metric} relative change vs baseline: {change['relative']:g}"
            )
        )
    return out


def serving_dir(model_uri: str) -> Path:
    """The SavedModel directory of a TFX Model artifact."""
    candidate = Path(model_uri, "Format-Serving")
    return candidate if candidate.is_dir() else Path(model_uri)


def predict_test_split(
    model_uri: str, examples_uri: str, description: DatasetDescription, limit: int = PREDICT_LIMIT
) -> Predictions:
    """Run the model's ``serving_image_bytes`` signature on the test split of this run's span
    (the stored bytes, as the Evaluator's examples carry them)."""
    import tensorflow as tf

    encoded, labels = read_encoded(examples_uri, ingest_settings.TEST_SPLIT, limit=limit)
    loaded = tf.saved_model.load(str(serving_dir(model_uri)))
    signature = loaded.signatures[features.SIGNATURE_IMAGE_BYTES]
    probabilities = []
    for start in range(0, len(encoded), PREDICT_BATCH):
        batch = tf.constant(encoded[start : start + PREDICT_BATCH])
        out = signature(**{features.INPUT_IMAGE_BYTES: batch})
        probabilities.append(out[features.OUTPUT_PROBABILITIES].numpy())
    k = description.num_classes
    probs = np.concatenate(probabilities) if probabilities else np.zeros((0, k), np.float32)
    predicted = probs.argmax(axis=1).astype(np.int64)
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
    return Predictions(labels, predicted, confidence, decode(encoded, description), k)


def count_parameters(model_uri: str) -> int | None:
    """Trainable parameters of the SavedModel (for the model card); None if not exposed."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(serving_dir(model_uri)))
    variables = getattr(loaded, "trainable_variables", None)
    if not variables:
        return None
    return int(sum(int(np.prod(v.shape)) for v in variables))
