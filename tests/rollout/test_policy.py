from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from rollout import settings as rollout_settings
from rollout.policy import PolicyError, load_policy, parse_policy


def test_the_shipped_policy_loads_and_its_steps_end_at_full_traffic():
    policy = load_policy(rollout_settings.ROLLOUT_POLICY_PATH)
    assert policy.weight_steps[-1] == 100
    assert list(policy.weight_steps) == sorted(set(policy.weight_steps))
    assert policy.drift.on_drift in ("alert", "retrain")


def test_next_weight_walks_the_steps_then_stops():
    policy = replace(load_policy(), weight_steps=(10, 50, 100))
    assert policy.next_weight(0) == 10
    assert policy.next_weight(10) == 50
    assert policy.next_weight(50) == 100
    assert policy.next_weight(100) is None


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"weight_steps": [50, 10, 100]}, "increase strictly"),
        ({"weight_steps": [10, 50]}, "end at 100"),
        ({"weight_steps": [0, 100]}, "percentages"),
        ({"analysis": {"window_secs": 3}}, "unknown key(s) in 'analysis': window_secs"),
        ({"drift": {"on_drift": "page"}}, "on_drift"),
        ({"drift": {"threshold": "high"}}, "drift.threshold"),
        ({"rollout": {}}, "unknown top-level"),
    ],
)
def test_bad_policies_fail_with_a_message_naming_the_problem(raw, message):
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_policy(raw)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("weight_steps: [10, 50\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)


def test_values_override_defaults(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        yaml.safe_dump(
            {"weight_steps": [5, 100], "analysis": {"window_seconds": 3, "min_requests": 7}}
        )
    )
    policy = load_policy(path)
    assert policy.weight_steps == (5, 100)
    assert policy.analysis.window_seconds == 3.0 and policy.analysis.min_requests == 7
    assert policy.with_window(9).analysis.window_seconds == 9.0


def test_a_partial_policy_takes_the_other_keys_from_the_shipped_file():
    shipped = load_policy()
    custom = parse_policy({"analysis": {"window_seconds": 5}, "drift": {"on_drift": "retrain"}})
    assert custom.analysis.window_seconds == 5.0
    assert custom.analysis.min_requests == shipped.analysis.min_requests
    assert custom.drift.on_drift == "retrain"
    assert custom.drift.threshold == shipped.drift.threshold
    assert custom.weight_steps == shipped.weight_steps
