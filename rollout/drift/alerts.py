"""Drift alerts: a log line, a record in the alert log and, when the policy says
``on_drift: retrain``, a retrain request (rollout/retrain_requests.py) that a scheduler
(``cifar10-release --if-retrain-requested`` / ``--watch``, the ``cifar10_release`` DAG)
claims exactly once. One request at a time: alerts while one is pending or running do not
pile up."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from pipeline import configs
from rollout import atomic_io, retrain_requests
from rollout.drift.monitor import DriftReading
from rollout.policy import DriftPolicy
from rollout.state import StatePaths, new_record

log = logging.getLogger("rollout.drift.alerts")


def record_drift_alert(
    paths: StatePaths,
    reading: DriftReading,
    policy: DriftPolicy,
    reference: str,
    actor: str = "router",
) -> dict[str, Any]:
    """Log and persist one drift alert; returns the record written."""
    reading = replace(reading, threshold=policy.threshold, score_threshold=policy.score_threshold)
    reason = f"input drift: {reading.describe()}"
    log.warning("ALERT %s (model %s, reference %s)", reason, configs.MODEL_NAME, reference)
    record = new_record(
        "drift_alert",
        actor,
        reason,
        model=configs.MODEL_NAME,
        metrics=reading.metrics(),
        reference=reference,
        on_drift=policy.on_drift,
    )
    if policy.on_drift == "retrain":
        record["retrain_requested"] = retrain_requests.file_request(paths, record, actor)
    atomic_io.append_jsonl(paths.alerts, record)
    return record


def pending_retrain_request(paths: StatePaths) -> dict[str, Any] | None:
    return retrain_requests.pending(paths)
