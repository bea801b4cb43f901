from __future__ import annotations

import math
import random

import pytest

from rollout import settings as rollout_settings
from rollout.canary.routing import StateWatcher, choose_label
from rollout.state import RolloutState, write_state


def four_sigma(n: int, p: float) -> float:
    return 4 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("weight", [10, 50, 90])
def test_unkeyed_share_is_within_four_sigma_of_the_weight(weight):
    rng = random.Random(1)
    n = 20_000
    canary = sum(
        choose_label(weight, None, rng.random) == rollout_settings.CANARY_LABEL for _ in range(n)
    )
    assert abs(canary - n * weight / 100) <= four_sigma(n, weight / 100)


@pytest.mark.parametrize("weight", [10, 50])
def test_keyed_share_over_many_clients_is_within_four_sigma(weight):
    n = 20_000
    canary = sum(
        choose_label(weight, f"user-{i}") == rollout_settings.CANARY_LABEL for i in range(n)
    )
    assert abs(canary - n * weight / 100) <= four_sigma(n, weight / 100)


def test_a_client_key_always_gets_the_same_label_and_keeps_canary_as_weight_grows():
    rng = random.Random(2)
    keys = [f"k{i}" for i in range(500)]
    for weight in (10, 50):
        first = {k: choose_label(weight, k, rng.random) for k in keys}
        again = {k: choose_label(weight, k, rng.random) for k in keys}
        assert first == again
    on_canary_at_10 = {k for k in keys if choose_label(10, k) == rollout_settings.CANARY_LABEL}
    on_canary_at_50 = {k for k in keys if choose_label(50, k) == rollout_settings.CANARY_LABEL}
    assert on_canary_at_10 and on_canary_at_10 <= on_canary_at_50


def test_zero_and_full_weight_are_exact():
    assert all(choose_label(0, f"k{i}") == rollout_settings.STABLE_LABEL for i in range(200))
    assert all(choose_label(100, f"k{i}") == rollout_settings.CANARY_LABEL for i in range(200))


def test_state_watcher_rereads_the_weight_when_the_file_changes(tmp_path):
    path = tmp_path / "state.json"
    watcher = StateWatcher(path, poll_seconds=0)
    assert watcher.current().weight == 0
    write_state(path, RolloutState(stable=1, canary=2, weight=10))
    assert (watcher.current().canary, watcher.current().weight) == (2, 10)
    write_state(path, RolloutState(stable=1, canary=2, weight=50))
    assert watcher.current().weight == 50
    write_state(path, RolloutState(stable=2, canary=None, weight=0, retired=[1]))
    split = watcher.current()
    assert (split.stable, split.canary, split.weight) == (2, None, 0)
    assert split.label_of(2) == rollout_settings.STABLE_LABEL and split.label_of(1) == "pinned"
