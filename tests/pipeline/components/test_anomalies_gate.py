"""The anomalies gate turns ExampleValidator output into a readable failure."""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import anomalies_pb2

from pipeline.components import anomalies_gate


def write_anomalies(root, split: str, anomalies: anomalies_pb2.Anomalies) -> None:
    path = root / f"Split-{split}"
    path.mkdir(parents=True)
    (path / anomalies_gate.ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())


def test_no_anomalies_gives_no_lines(tmp_path):
    write_anomalies(tmp_path, "train", anomalies_pb2.Anomalies())
    assert anomalies_gate.describe_anomalies(str(tmp_path), ["train"]) == []


def test_anomalies_are_listed_per_split_and_feature(tmp_path):
    found = anomalies_pb2.Anomalies()
    info = found.anomaly_info["label"]
    reason = info.reason.add()
    reason.short_description = "Out-of-range values"
    reason.description = "Unexpectedly large value: 12."
    write_anomalies(tmp_path, "train", anomalies_pb2.Anomalies())
    write_anomalies(tmp_path, "test", found)
    lines = anomalies_gate.describe_anomalies(str(tmp_path), ["train", "test"])
    assert lines == [
        "split 'test', feature 'label': Out-of-range values: Unexpectedly large value: 12."
    ]
