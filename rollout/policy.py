"""Load and validate the rollout policy (rollout/policy.yaml, ``ROLLOUT_POLICY_PATH``).

One typed object instead of dict look-ups everywhere, so a typo in the YAML fails at load
time with a message naming the key, not halfway through a canary.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from rollout import settings as rollout_settings


class PolicyError(ValueError):
    """The policy file is missing, malformed or inconsistent."""


# The values live only in the policy file (rollout_settings.ROLLOUT_POLICY_PATH); these classes
# give them types. A custom policy file may set only some keys: the rest come from the
# shipped file.


@dataclass(frozen=True)
class AnalysisPolicy:
    window_seconds: float
    min_requests: int
    max_wait_windows: int
    max_error_rate: float
    max_error_rate_increase: float
    max_p99_latency_ratio: float
    min_p99_latency_ms: float
    min_latency_requests: int
    max_prediction_divergence: float
    max_top_class_share: float
    min_feedback: int
    max_accuracy_drop: float


@dataclass(frozen=True)
class DriftPolicy:
    enabled: bool
    sample_rate: float
    window_images: int
    min_images: int
    threshold: float
    score_threshold: float
    check_every: int
    cooldown_seconds: float
    on_drift: str


@dataclass(frozen=True)
class RouterPolicy:
    state_poll_seconds: float
    upstream_timeout_seconds: float


@dataclass(frozen=True)
class Policy:
    weight_steps: tuple[int, ...]
    analysis: AnalysisPolicy
    drift: DriftPolicy
    router: RouterPolicy

    def next_weight(self, weight: int) -> int | None:
        """The step after ``weight``; None when ``weight`` is already the last step."""
        later = [w for w in self.weight_steps if w > weight]
        return later[0] if later else None

    def with_window(self, seconds: float) -> Policy:
        """A copy with another analysis window (demo and tests shorten it)."""
        return replace(self, analysis=replace(self.analysis, window_seconds=float(seconds)))


_TYPES = {"float": float, "int": int, "bool": bool, "str": str}
_SECTIONS = {"analysis": AnalysisPolicy, "drift": DriftPolicy, "router": RouterPolicy}


def _section(cls: type, raw: Any, shipped: dict[str, Any], name: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError(f"policy: '{name}' must be a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise PolicyError(f"policy: unknown key(s) in '{name}': {', '.join(unknown)}")
    merged = {**shipped, **raw}
    missing = sorted(set(known) - set(merged))
    if missing:
        raise PolicyError(f"policy: missing key(s) in '{name}': {', '.join(missing)}")
    values = {}
    for key, f in known.items():
        value = merged[key]
        try:
            values[key] = _TYPES[str(f.type)](value)
        except (TypeError, ValueError) as e:
            raise PolicyError(f"policy: '{name}.{key}' = {value!r}: {e}") from e
    return cls(**values)


def _shipped() -> dict[str, Any]:
    """The shipped policy file, parsed: the defaults of every key."""
    raw = yaml.safe_load(Path(rollout_settings.ROLLOUT_POLICY_PATH).read_text())
    return raw if isinstance(raw, dict) else {}


def parse_policy(raw: Any) -> Policy:
    """Build a :class:`Policy` from parsed YAML, checking the values make sense."""
    if not isinstance(raw, dict):
        raise PolicyError("policy: the file must hold a mapping")
    unknown = sorted(set(raw) - {"weight_steps", *_SECTIONS})
    if unknown:
        raise PolicyError(f"policy: unknown top-level key(s): {', '.join(unknown)}")
    shipped = _shipped()
    steps = raw.get("weight_steps", shipped.get("weight_steps"))
    if (
        not isinstance(steps, list)
        or not steps
        or not all(isinstance(w, int) and 0 < w <= 100 for w in steps)
    ):
        raise PolicyError(
            f"policy: weight_steps must be a list of percentages in (0, 100], got {steps!r}"
        )
    if steps != sorted(set(steps)) or steps[-1] != 100:
        raise PolicyError(
            f"policy: weight_steps must increase strictly and end at 100, got {steps!r}"
        )
    sections = {
        name: _section(cls, raw.get(name), shipped.get(name) or {}, name)
        for name, cls in _SECTIONS.items()
    }
    policy = Policy(weight_steps=tuple(steps), **sections)
    if policy.drift.on_drift not in ("alert", "retrain"):
        raise PolicyError(
            f"policy: drift.on_drift must be 'alert' or 'retrain', got {policy.drift.on_drift!r}"
        )
    if not 0.0 <= policy.drift.sample_rate <= 1.0:
        raise PolicyError("policy: drift.sample_rate must be within [0, 1]")
    if policy.drift.min_images > policy.drift.window_images:
        raise PolicyError("policy: drift.min_images must not exceed drift.window_images")
    if policy.analysis.window_seconds <= 0:
        raise PolicyError("policy: analysis.window_seconds must be positive")
    return policy


def load_policy(path: Path | str | None = None) -> Policy:
    """Read the policy file (default: rollout_settings.ROLLOUT_POLICY_PATH)."""
    path = Path(path or rollout_settings.ROLLOUT_POLICY_PATH)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise PolicyError(f"policy file not found: {path}") from e
    except yaml.YAMLError as e:
        raise PolicyError(f"{path}: not valid YAML: {e}") from e
    return parse_policy(raw)
