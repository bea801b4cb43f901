"""Load and validate the rollout policy (rollout/policy.yaml = configs.ROLLOUT_POLICY_PATH).

One typed object instead of dict look-ups everywhere, so a typo in the YAML fails at load
time with a message naming the key, not halfway through a canary.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from pipeline import configs


class PolicyError(ValueError):
    """The policy file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class AnalysisPolicy:
    window_seconds: float = 20.0
    min_requests: int = 30
    max_wait_windows: int = 6
    max_error_rate: float = 0.05
    max_error_rate_increase: float = 0.02
    max_p99_latency_ratio: float = 2.0
    min_p99_latency_ms: float = 1000.0
    min_latency_requests: int = 100
    max_prediction_divergence: float = 0.85
    max_top_class_share: float = 0.6
    min_feedback: int = 50
    max_accuracy_drop: float = 0.12


@dataclass(frozen=True)
class DriftPolicy:
    enabled: bool = True
    sample_rate: float = 0.25
    window_images: int = 300
    min_images: int = 200
    threshold: float = 0.07
    check_every: int = 25
    cooldown_seconds: float = 300.0
    on_drift: str = "alert"


@dataclass(frozen=True)
class RouterPolicy:
    state_poll_seconds: float = 0.5
    upstream_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class Policy:
    weight_steps: tuple[int, ...] = (10, 50, 100)
    analysis: AnalysisPolicy = field(default_factory=AnalysisPolicy)
    drift: DriftPolicy = field(default_factory=DriftPolicy)
    router: RouterPolicy = field(default_factory=RouterPolicy)

    def next_weight(self, weight: int) -> int | None:
        """The step after ``weight``; None when ``weight`` is already the last step."""
        later = [w for w in self.weight_steps if w > weight]
        return later[0] if later else None

    def with_window(self, seconds: float) -> Policy:
        """A copy with another analysis window (demo and tests shorten it)."""
        return replace(self, analysis=replace(self.analysis, window_seconds=float(seconds)))


def _section(cls: type, raw: Any, name: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise PolicyError(f"policy: '{name}' must be a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise PolicyError(f"policy: unknown key(s) in '{name}': {', '.join(unknown)}")
    values = {}
    for key, value in raw.items():
        default = getattr(cls(), key)
        try:
            values[key] = type(default)(value)
        except (TypeError, ValueError) as e:
            raise PolicyError(f"policy: '{name}.{key}' = {value!r}: {e}") from e
    return cls(**values)


def parse_policy(raw: Any) -> Policy:
    """Build a :class:`Policy` from parsed YAML, checking the values make sense."""
    if not isinstance(raw, dict):
        raise PolicyError("policy: the file must hold a mapping")
    unknown = sorted(set(raw) - {"weight_steps", "analysis", "drift", "router"})
    if unknown:
        raise PolicyError(f"policy: unknown top-level key(s): {', '.join(unknown)}")
    steps = raw.get("weight_steps", list(Policy.weight_steps))
    if (not isinstance(steps, list) or not steps
            or not all(isinstance(w, int) and 0 < w <= 100 for w in steps)):
        raise PolicyError(f"policy: weight_steps must be a list of percentages in (0, 100], "
                          f"got {steps!r}")
    if steps != sorted(set(steps)) or steps[-1] != 100:
        raise PolicyError(f"policy: weight_steps must increase strictly and end at 100, "
                          f"got {steps!r}")
    policy = Policy(
        weight_steps=tuple(steps),
        analysis=_section(AnalysisPolicy, raw.get("analysis"), "analysis"),
        drift=_section(DriftPolicy, raw.get("drift"), "drift"),
        router=_section(RouterPolicy, raw.get("router"), "router"),
    )
    if policy.drift.on_drift not in ("alert", "retrain"):
        raise PolicyError(f"policy: drift.on_drift must be 'alert' or 'retrain', "
                          f"got {policy.drift.on_drift!r}")
    if not 0.0 <= policy.drift.sample_rate <= 1.0:
        raise PolicyError("policy: drift.sample_rate must be within [0, 1]")
    if policy.analysis.window_seconds <= 0:
        raise PolicyError("policy: analysis.window_seconds must be positive")
    return policy


def load_policy(path: Path | str | None = None) -> Policy:
    """Read the policy file (default: configs.ROLLOUT_POLICY_PATH)."""
    path = Path(path or configs.ROLLOUT_POLICY_PATH)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise PolicyError(f"policy file not found: {path}") from e
    except yaml.YAMLError as e:
        raise PolicyError(f"{path}: not valid YAML: {e}") from e
    return parse_policy(raw)
