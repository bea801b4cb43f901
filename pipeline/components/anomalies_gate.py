"""Stop the run when ExampleValidator found anomalies.

ExampleValidator only *records* anomalies; nothing downstream looks at them. This gate reads
them and raises with a readable list, and Transform/Trainer depend on it, so bad data never
reaches training (and therefore never the Pusher).
"""

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

ANOMALIES_FILE = "SchemaDiff.pb"  # file name ExampleValidator writes per split


class DataAnomaliesError(RuntimeError):
    """The examples do not match the curated schema."""


def describe_anomalies(anomalies_uri: str, split_names: list[str]) -> list[str]:
    """One line per anomaly: split, feature, short and long description."""
    lines = []
    for split in split_names:
        path = os.path.join(anomalies_uri, f"Split-{split}", ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            reasons = "; ".join(f"{r.short_description}: {r.description}" for r in info.reason)
            lines.append(f"split '{split}', feature '{feature}': {reasons or info.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            lines.append(f"split '{split}', dataset: {info.description}")
    return lines


@component
def AnomaliesGate(anomalies: InputArtifact[ExampleAnomalies]) -> None:
    """Raise DataAnomaliesError if any split has anomalies."""
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    found = describe_anomalies(anomalies.uri, splits)
    if found:
        raise DataAnomaliesError(
            "ExampleValidator found anomalies; the run stops before Transform/Trainer:\n  "
            + "\n  ".join(found)
        )
