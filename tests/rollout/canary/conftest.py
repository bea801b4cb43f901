"""Fixtures of the router tests: a fake model server (REST and gRPC, both protocols), a
rollout state at 20 % canary, and a router in front of them on free ports."""

from __future__ import annotations

import pytest

from rollout import settings as rollout_settings
from rollout.canary.router import Router
from rollout.state import RolloutState, write_state
from tests.rollout.fakes import FakeModelServer

STABLE, CANARY = 1, 2


@pytest.fixture
def upstream():
    server = FakeModelServer(
        {rollout_settings.STABLE_LABEL: STABLE, rollout_settings.CANARY_LABEL: CANARY},
        failing={"9"},
    ).start()
    yield server
    server.stop()


@pytest.fixture
def state_path(tmp_path):
    path = tmp_path / "state.json"
    write_state(path, RolloutState(stable=STABLE, canary=CANARY, weight=20))
    return path


@pytest.fixture
def router(upstream, state_path):
    from rollout.policy import load_policy

    r = Router(
        upstream.rest_url,
        upstream.grpc_target,
        state_path,
        load_policy(),
        rest_port=0,
        grpc_port=0,
        seed=3,
    ).start()
    yield r
    r.stop()
