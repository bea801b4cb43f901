"""Wire drift monitoring for a router: the training reference, the drift-signal reference of
the stable version, the alert log, the policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rollout.canary.manager import RolloutManager
from rollout.drift.alerts import record_drift_alert
from rollout.drift.monitor import (
    DriftMonitor,
    DriftReading,
    DriftReferenceError,
    PixelReference,
    find_training_stats,
    load_reference,
)
from rollout.drift.reference import load_for_version
from rollout.drift.signals import PIXEL_BUCKETS, DriftReference


def pixel_reference(
    manager: RolloutManager, stats_path: Path | None, signals: DriftReference | None
) -> PixelReference:
    """The training data's Transform statistics when the pipeline recorded them (an
    explicit ``stats_path`` must exist), else the drift reference's pixel histogram."""
    try:
        return load_reference(stats_path or find_training_stats(manager.output_root))
    except DriftReferenceError:
        if stats_path is not None or signals is None or signals.pixels is None:
            raise
    edges = np.linspace(0.0, 1.0, PIXEL_BUCKETS + 1)
    return PixelReference(edges, signals.pixels, f"pixel histogram of {signals.source}")


def drift_monitor_for(
    manager: RolloutManager, stats_path: Path | None = None, actor: str = "router"
) -> DriftMonitor:
    """A monitor against ``stats_path`` (default: the newest Transform statistics under the
    manager's output root, else the drift reference's pixel histogram) and the stable
    version's drift reference (when one was built), whose alerts land in the manager's
    alert log."""
    policy = manager.policy.drift
    signals = load_for_version(manager.paths, manager.state().stable)
    reference = pixel_reference(manager, stats_path, signals)

    def on_alert(reading: DriftReading) -> None:
        record_drift_alert(manager.paths, reading, policy, reference.source, actor=actor)

    return DriftMonitor(
        reference,
        policy,
        on_alert=on_alert,
        signals=signals,
        signals_for=lambda version: load_for_version(manager.paths, version),
    )
