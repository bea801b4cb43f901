"""Drift alerts: a log line, a record in the alert log and, when the policy says
``on_drift: retrain``, a retrain request that ``cifar10-release --if-retrain-requested``
consumes (one pending request at a time; later alerts do not pile up)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pipeline import configs
from rollout import atomic_io
from rollout.drift import DriftReading
from rollout.policy import DriftPolicy
from rollout.state import StatePaths, new_record

log = logging.getLogger("rollout.alerts")


def record_drift_alert(paths: StatePaths, reading: DriftReading, policy: DriftPolicy,
                       reference: str, actor: str = "router") -> dict[str, Any]:
    """Log and persist one drift alert; returns the record written."""
    reason = (f"input drift: JS distance {reading.distance:.3f} > threshold "
              f"{policy.threshold:.3f} over {reading.images} sampled images")
    log.warning("ALERT %s (model %s, reference %s)", reason, configs.MODEL_NAME, reference)
    record = new_record("drift_alert", actor, reason, model=configs.MODEL_NAME,
                        metrics={"distance": reading.distance, "images": reading.images,
                                 "threshold": policy.threshold}, reference=reference,
                        on_drift=policy.on_drift)
    atomic_io.append_jsonl(paths.alerts, record)
    if policy.on_drift == "retrain" and not paths.retrain_request.exists():
        atomic_io.write_json_atomic(paths.retrain_request, record)
        atomic_io.append_jsonl(paths.history, new_record(
            "retrain_requested", actor, reason, alert_id=record["id"],
            metrics=record["metrics"]))
    return record


def pending_retrain_request(paths: StatePaths) -> dict[str, Any] | None:
    if not paths.retrain_request.exists():
        return None
    return json.loads(Path(paths.retrain_request).read_text())


def consume_retrain_request(paths: StatePaths) -> None:
    paths.retrain_request.unlink(missing_ok=True)
