"""kill -9 through a release under steady client load: the model server, the router or the
release process, each at several points of the rollout. After each: no half-written model
is visible, state, history, model config and the server's labels agree, the next release
command completes (promote) or rolls back, and the failed client requests are counted and
bounded.

ML Metadata is not killed here: a release of a pushed model (``--skip-pipeline``, as here)
never opens it; test_metadata_kill.py kills its database during a release's pipeline run.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from demos.serving_stack import release_outcome
from rollout import settings as rollout_settings
from tests.chaos.stack import LOAD_RATE, LOAD_WORKERS, ChaosStack, Counts

pytestmark = pytest.mark.slow

EXIT_PROMOTED, EXIT_ROLLED_BACK = 0, 3
# Where in a rollout the kill lands: the first state of the canary's rollout at or after it
# (the state file is polled; a point passed between two polls is taken at the next state).
KILL_POINTS = {
    "after-push": 0,  # the canary loaded without traffic (weight 0)
    "mid-canary": 10,  # at the first weight step
    "mid-analysis": 50,  # analysis windows under way at the middle step
    "mid-promote": 100,  # the last window, whose verdict promotes
}


def wait_for_point(stack: ChaosStack, release, version: int, point: str) -> int:
    """Wait until the rollout of ``version`` reached ``point``; the weight it is at. Fails
    at once if the release ended first."""
    minimum = KILL_POINTS[point]

    def reached():
        state = stack.state()
        if state.canary == version and state.weight >= minimum:
            return state.weight + 1
        assert release.running(), f"the release ended before {point}:\n{release.log_text()}"
        return 0

    return stack.wait_for(reached, f"the rollout of {version} to reach {point}", 90) - 1


def finish(stack: ChaosStack, release) -> tuple[int, str]:
    """Let the release end (it may have already); if it did not promote or roll back (it was
    killed, or failed), run the next release command, which must. Returns (exit code, log)
    of the deciding run."""
    try:
        release.popen.wait(timeout=180)
    finally:
        release.stop()
    code, log = release.popen.returncode, release.log_text()
    if code in (EXIT_PROMOTED, EXIT_ROLLED_BACK):
        return code, log
    code, log = stack.run_release()
    assert code in (EXIT_PROMOTED, EXIT_ROLLED_BACK), log
    return code, log


def check_outcome(stack: ChaosStack, version: int, stable_before: int, code: int, log: str):
    state = stack.check_consistent()
    if code == EXIT_PROMOTED:
        assert release_outcome(log) == "PROMOTED" and state.stable == version, log
    else:
        assert release_outcome(log) == "ROLLED BACK", log
        assert state.stable == stable_before and version in state.retired


def quiet_interval(stack: ChaosStack, seconds: float = 2.0) -> Counts:
    """Client requests over ``seconds`` of steady load."""
    before = stack.client_totals()
    time.sleep(seconds)
    return Counts.between(before, stack.client_totals())


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killing_the_release_loses_no_request_and_the_next_release_finishes(chaos, point):
    stable_before = chaos.check_consistent().stable
    version = chaos.push()
    before = chaos.client_totals()
    release = chaos.start_release()
    weight = wait_for_point(chaos, release, version, point)
    chaos.kill(release)
    code, log = finish(chaos, release)
    counts = Counts.between(before, chaos.client_totals())
    check_outcome(chaos, version, stable_before, code, log)
    print(f"release killed at {point} ({weight}%): {counts}, outcome exit {code}")
    assert "resuming the rollout" in log, log  # the killed rollout was picked up, not lost
    assert counts.sent > 0 and counts.failed == 0, (point, weight, counts)


@pytest.mark.parametrize("point", ["after-push", "mid-analysis"])
def test_killing_the_model_server_costs_only_its_downtime(chaos, point):
    stable_before = chaos.check_consistent().stable
    version = chaos.push()
    before = chaos.client_totals()
    release = chaos.start_release()
    wait_for_point(chaos, release, version, point)
    killed = time.monotonic()
    chaos.kill(chaos.server)
    chaos.start_server()  # a supervisor's restart: same flags, same ports
    downtime = time.monotonic() - killed
    code, log = finish(chaos, release)
    counts = Counts.between(before, chaos.client_totals())
    check_outcome(chaos, version, stable_before, code, log)
    print(f"server killed at {point}: down {downtime:.1f} s, {counts}, outcome exit {code}")
    # Only requests sent while no server listened fail: the router answers them 502 at once.
    assert counts.failed <= LOAD_RATE * downtime + LOAD_WORKERS, (counts, downtime)
    assert quiet_interval(chaos).failed == 0


@pytest.mark.parametrize("point", ["mid-canary", "mid-promote"])
def test_killing_the_router_costs_only_its_downtime(chaos, point):
    stable_before = chaos.check_consistent().stable
    version = chaos.push()
    before = chaos.client_totals()
    release = chaos.start_release()
    wait_for_point(chaos, release, version, point)
    killed = time.monotonic()
    chaos.kill(chaos.router)
    chaos.start_router()
    downtime = time.monotonic() - killed
    code, log = finish(chaos, release)
    counts = Counts.between(before, chaos.client_totals())
    check_outcome(chaos, version, stable_before, code, log)
    print(f"router killed at {point}: down {downtime:.1f} s, {counts}, outcome exit {code}")
    assert counts.failed <= LOAD_RATE * downtime + LOAD_WORKERS, (counts, downtime)
    assert quiet_interval(chaos).failed == 0


def test_a_canary_whose_model_disappears_is_rolled_back_and_no_client_sees_it(chaos):
    """The canary's version is taken from the server mid-canary (its folder moved away, as
    when its volume or server is lost): the router serves its share from stable, the
    analysis sees the canary fail and rolls it back."""
    stable_before = chaos.check_consistent().stable
    version = chaos.push()
    before = chaos.client_totals()
    release = chaos.start_release()
    wait_for_point(chaos, release, version, "mid-canary")
    model_dir = chaos.manager.model_dir
    os.rename(model_dir / str(version), model_dir / f".gone-{version}")  # atomic: no half
    code, log = finish(chaos, release)
    counts = Counts.between(before, chaos.client_totals())
    assert code == EXIT_ROLLED_BACK, log
    check_outcome(chaos, version, stable_before, code, log)
    print(f"canary's model removed mid-canary: {counts}, outcome exit {code}")
    assert counts.sent > 0 and counts.failed == 0, counts
    assert chaos.load is not None
    assert chaos.load.view.served[rollout_settings.STABLE_LABEL] > 0
    shutil.rmtree(model_dir / f".gone-{version}")
