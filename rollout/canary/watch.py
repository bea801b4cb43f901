"""The scheduled side of the canary analysis: every window, scrape the router's metrics,
analyze, and step, promote or roll back through the manager (which records each decision
with its metrics in the history).

Inside a window the metrics are looked at every ``poll_seconds``, so a broken canary is
rolled back as soon as it has failed on ``min_requests`` requests instead of at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.analysis import Snapshot, Verdict
from rollout.canary.manager import RolloutManager
from rollout.state import RolloutState
from serving import defaults as serving_defaults

ANALYSIS_ACTOR = "canary-analysis"


def http_metrics(url: str, timeout: float = 5.0) -> Callable[[], str]:
    """A scraper for the router's Prometheus endpoint (``url`` = router REST base URL)."""
    endpoint = url.rstrip("/") + serving_defaults.PROMETHEUS_PATH

    def scrape() -> str:
        response = requests.get(endpoint, timeout=timeout)
        response.raise_for_status()
        return response.text

    return scrape


class CanaryWatch:
    def __init__(
        self,
        manager: RolloutManager,
        scrape: Callable[[], str],
        actor: str = ANALYSIS_ACTOR,
        poll_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = print,
    ) -> None:
        self.manager = manager
        self.policy = manager.policy.analysis
        self.scrape = scrape
        self.actor = actor
        self.poll_seconds = poll_seconds
        self.clock, self.sleep, self.say = clock, sleep, say
        self._baseline: Snapshot | None = None  # stable's counters when watching began

    def _snapshot(self) -> Snapshot:
        return analysis.parse_metrics(self.scrape(), self.manager.model_name)

    def _window_stats(self, state: RolloutState, before: Snapshot, now: Snapshot):
        canary = analysis.stats_for(
            now, rollout_settings.CANARY_LABEL, state.canary
        ) - analysis.stats_for(before, rollout_settings.CANARY_LABEL, state.canary)
        baseline = self._baseline if self._baseline is not None else before
        stable = analysis.stats_for(
            now, rollout_settings.STABLE_LABEL, state.stable
        ) - analysis.stats_for(baseline, rollout_settings.STABLE_LABEL, state.stable)
        return canary, stable

    def _num_classes(self, version: int) -> int | None:
        """The canary model's class count (its exported dataset description), for the
        collapse check; None (judge by the classes seen) when it cannot be read."""
        from models.dataset import DatasetDescriptionError, from_model

        try:
            return from_model(self.manager.model_dir / str(version)).num_classes
        except (DatasetDescriptionError, OSError):
            return None

    def run_window(self) -> Verdict | None:
        """Analyze one window and apply its verdict; None when no canary is in progress."""
        state = self.manager.state()
        if state.canary is None:
            return None
        before = self._snapshot()
        if self._baseline is None:
            self._baseline = before
        started = self.clock()
        next_weight = self.manager.policy.next_weight(state.weight)
        while True:
            self.sleep(min(self.poll_seconds, self.policy.window_seconds))
            now = self._snapshot()
            canary, stable = self._window_stats(state, before, now)
            final = self.clock() - started >= self.policy.window_seconds
            verdict = analysis.analyze(
                canary,
                stable,
                state.weight,
                next_weight,
                self.policy,
                final=final,
                num_classes=self._num_classes(state.canary),
            )
            if final or verdict.action == analysis.ROLLBACK:
                break
        verdict.metrics["window_seconds"] = round(self.clock() - started, 1)
        self._apply(state, verdict)
        return verdict

    def _apply(self, seen: RolloutState, verdict: Verdict) -> None:
        current = self.manager.state()
        if current.canary != seen.canary or current.weight != seen.weight:
            self.say(
                f"rollout changed during the window (now canary={current.canary} "
                f"at {current.weight}%); verdict '{verdict.action}' not applied"
            )
            return
        kwargs = {"actor": self.actor, "reason": verdict.reason, "metrics": verdict.metrics}
        if verdict.action == analysis.STEP:
            self.manager.step(**kwargs)
        elif verdict.action == analysis.PROMOTE:
            self.manager.promote(**kwargs)
        elif verdict.action == analysis.ROLLBACK:
            self.manager.rollback(**kwargs)
        else:
            waited = self.manager.note_wait().waited_windows
            if waited >= self.policy.max_wait_windows:
                verdict.action = analysis.ROLLBACK
                verdict.reasons.append(f"no verdict after {waited} windows")
                self.manager.rollback(**{**kwargs, "reason": verdict.reason})

    def run(self, max_windows: int | None = None) -> str:
        """Watch until the rollout ends (promote/rollback); returns the final action
        ('none' when no canary was in progress, 'unfinished' when max_windows ran out)."""
        windows = 0
        final = "none"
        while max_windows is None or windows < max_windows:
            verdict = self.run_window()
            if verdict is None:
                return final
            windows += 1
            self.say(describe(verdict))
            final = verdict.action
            if verdict.action in (analysis.PROMOTE, analysis.ROLLBACK):
                return final
        return "unfinished"


def describe(verdict: Verdict) -> str:
    """One line per window: the decision, why, and the headline numbers."""

    def side(name: str) -> str:
        m = verdict.metrics.get(name, {})
        p99 = m.get("p99_latency_ms")
        acc = m.get("accuracy")
        return (
            f"{name} n={m.get('requests', 0)} err={m.get('error_rate', 0.0):.1%} "
            f"p99={'n/a' if p99 is None else f'{p99:.0f}ms'} "
            f"acc={'n/a' if acc is None else f'{acc:.2f}'}"
        )

    divergence = verdict.metrics.get("prediction_divergence")
    return (
        f"[analysis] {verdict.action.upper():8s} at {verdict.metrics.get('weight')}%: "
        f"{verdict.reason} | {side('canary')} | {side('stable')} | divergence="
        f"{'n/a' if divergence is None else f'{divergence:.3f}'}"
    )
