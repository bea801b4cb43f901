"""Wire drift monitoring for a router: the training reference, the drift-signal reference of
the stable version, the alert log, the policy."""

from __future__ import annotations

from pathlib import Path

from rollout.alerts import record_drift_alert
from rollout.drift import DriftMonitor, DriftReading, find_training_stats, load_reference
from rollout.drift_reference import load_for_version
from rollout.manager import RolloutManager


def drift_monitor_for(manager: RolloutManager, stats_path: Path | None = None,
                      actor: str = "router") -> DriftMonitor:
    """A monitor against ``stats_path`` (default: the newest Transform statistics under the
    manager's output root) and the stable version's drift reference (when one was built),
    whose alerts land in the manager's alert log."""
    reference = load_reference(stats_path or find_training_stats(manager.output_root))
    policy = manager.policy.drift
    signals = load_for_version(manager.paths, manager.state().stable)

    def on_alert(reading: DriftReading) -> None:
        record_drift_alert(manager.paths, reading, policy, reference.source, actor=actor)

    return DriftMonitor(reference, policy, on_alert=on_alert, signals=signals,
                        signals_for=lambda version: load_for_version(manager.paths, version))
