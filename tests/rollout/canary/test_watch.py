"""The analysis loop with a simulated clock and router metrics (no servers)."""

from __future__ import annotations

from dataclasses import replace

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary.manager import RolloutManager
from rollout.canary.router_metrics import RouterMetrics
from rollout.canary.watch import CanaryWatch
from rollout.policy import load_policy

MODEL = configs.MODEL_NAME


class SimulatedTraffic:
    """Each tick of the fake clock sends ``rate`` requests split by the current weight."""

    def __init__(
        self, manager: RolloutManager, rate: int, canary_classes=None, canary_fails: bool = False
    ) -> None:
        self.manager, self.rate = manager, rate
        self.canary_classes, self.canary_fails = canary_classes, canary_fails
        self.metrics = RouterMetrics()
        self.now = 0.0
        self.stable_failures = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        state = self.manager.state()
        for i in range(int(self.rate * seconds)):
            to_canary = state.canary is not None and (i % 100) < state.weight
            label = rollout_settings.CANARY_LABEL if to_canary else rollout_settings.STABLE_LABEL
            version = state.canary if to_canary else state.stable
            failed = to_canary and self.canary_fails
            classes = self.canary_classes if to_canary and self.canary_classes else range(10)
            cls = list(classes)[i % len(list(classes))]
            self.metrics.observe(
                MODEL,
                version,
                label,
                0.01,
                not failed,
                "500" if failed else "200",
                [] if failed else [cls],
            )
        self.now += seconds

    def scrape(self) -> str:
        return self.metrics.render().decode()


def make(manager_root, **analysis) -> RolloutManager:
    base = load_policy()
    policy = replace(
        base,
        weight_steps=(10, 50, 100),
        analysis=replace(base.analysis, window_seconds=10, min_requests=20, **analysis),
    )
    manager = RolloutManager(manager_root, policy)
    manager.init(1)
    manager.start(2)
    return manager


def test_a_good_canary_is_stepped_and_promoted_with_metrics_in_the_history(output_root):
    manager = make(output_root)
    traffic = SimulatedTraffic(manager, rate=50)
    watch = CanaryWatch(
        manager, traffic.scrape, clock=traffic.clock, sleep=traffic.sleep, say=lambda _: None
    )
    assert watch.run(max_windows=10) == "promote"
    assert manager.state().stable == 2
    decisions = [r for r in manager.history() if r["actor"] == "canary-analysis"]
    assert [(r["action"], r["metrics"]["weight"]) for r in decisions] == [
        ("step", 10),
        ("step", 50),
        ("promote", 100),
    ]
    assert all(r["metrics"]["canary"]["requests"] >= 20 for r in decisions)
    assert decisions[-1]["metrics"]["canary"]["error_rate"] == 0.0


def test_a_failing_canary_is_rolled_back_inside_the_first_window(output_root):
    manager = make(output_root)
    traffic = SimulatedTraffic(manager, rate=50, canary_fails=True)
    watch = CanaryWatch(
        manager, traffic.scrape, clock=traffic.clock, sleep=traffic.sleep, say=lambda _: None
    )
    assert watch.run(max_windows=10) == "rollback"
    assert traffic.now <= manager.policy.analysis.window_seconds
    state = manager.state()
    assert (state.stable, state.canary, state.retired) == (1, None, [2])
    last = manager.history()[-1]
    assert last["action"] == "rollback" and "error rate 100.0%" in last["reason"]
    assert last["metrics"]["canary"]["errors"] >= 20
    assert last["metrics"]["stable"]["errors"] == 0


def test_a_collapsed_canary_is_rolled_back(output_root):
    manager = make(output_root)
    traffic = SimulatedTraffic(manager, rate=50, canary_classes=[0])
    watch = CanaryWatch(
        manager, traffic.scrape, clock=traffic.clock, sleep=traffic.sleep, say=lambda _: None
    )
    assert watch.run(max_windows=10) == "rollback"
    reason = manager.history()[-1]["reason"]
    assert "collapsed predictions: 100% are one class" in reason
    assert "predicted-class divergence" in reason  # one class vs all ten: JS 0.87


def test_no_traffic_rolls_back_after_max_wait_windows(output_root):
    manager = make(output_root, max_wait_windows=2)
    traffic = SimulatedTraffic(manager, rate=0)
    watch = CanaryWatch(
        manager, traffic.scrape, clock=traffic.clock, sleep=traffic.sleep, say=lambda _: None
    )
    assert watch.run(max_windows=5) == "rollback"
    assert "no verdict after 2 windows" in manager.history()[-1]["reason"]


def test_a_manual_change_during_the_window_is_not_overridden(output_root):
    manager = make(output_root)
    traffic = SimulatedTraffic(manager, rate=50)

    def sleep_and_intervene(seconds: float) -> None:
        traffic.sleep(seconds)
        if manager.state().weight == 10:
            manager.step(weight=50, actor="operator")

    watch = CanaryWatch(
        manager, traffic.scrape, clock=traffic.clock, sleep=sleep_and_intervene, say=lambda _: None
    )
    watch.run_window()
    state = manager.state()
    assert state.weight == 50  # the analysis did not step again on stale numbers
    assert manager.history()[-1]["actor"] == "operator"
