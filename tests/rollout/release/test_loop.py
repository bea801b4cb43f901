"""``cifar10-release``: the decision flow of the release loop and of retrain requests (fast,
pipeline stubbed). The self-contained demo's runs are in tests/demos/test_release.py."""

from __future__ import annotations

import threading

import pytest

from rollout import retrain_requests
from rollout.canary.manager import RolloutManager
from rollout.drift import alerts
from rollout.release import cli, loop, pipeline_run
from rollout.release.outcome import EXIT_ROLLED_BACK, Outcome
from rollout.state import StatePaths
from tests.support.waiting import wait_until


def stub_pipeline(monkeypatch, result: tuple[int, int | None]) -> list:
    calls = []

    def fake(args, pipeline_args):
        calls.append(pipeline_args)
        return result

    monkeypatch.setattr(pipeline_run, "train_and_push", fake)
    return calls


def test_the_first_release_is_deployed_directly(output_root, monkeypatch, capsys):
    calls = stub_pipeline(monkeypatch, (0, 2))
    assert cli.main(["--output-root", str(output_root), "--", "--beam-workers", "1"]) == 0
    assert calls == [["--beam-workers", "1"]]
    assert "DEPLOYED: version 2 is the first stable version" in capsys.readouterr().out
    state = RolloutManager(output_root).state()
    assert (state.stable, state.canary) == (2, None)


@pytest.mark.parametrize("result, code", [((0, None), 0), ((2, None), 2), ((1, None), 1)])
def test_nothing_is_rolled_out_when_the_pipeline_does_not_push(
    output_root, monkeypatch, result, code
):
    stub_pipeline(monkeypatch, result)
    RolloutManager(output_root).init(1)
    assert cli.main(["--output-root", str(output_root)]) == code
    assert [r["action"] for r in RolloutManager(output_root).history()] == ["init"]


def test_retrain_requests_gate_the_run_and_are_consumed(output_root, monkeypatch):
    calls = stub_pipeline(monkeypatch, (0, None))
    args = ["--output-root", str(output_root), "--if-retrain-requested"]
    assert cli.main(args) == 0 and calls == []
    paths = StatePaths.for_output_root(output_root)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.retrain_request.write_text('{"reason": "input drift", "id": "x"}')
    assert cli.main(args) == 0 and len(calls) == 1
    assert alerts.pending_retrain_request(paths) is None


def test_server_without_router_is_a_usage_error(output_root):
    assert cli.main(["--output-root", str(output_root), "--server", "http://x:1"]) == 2


def test_a_canary_without_clients_is_refused_before_it_starts(output_root, monkeypatch, capsys):
    """The library has no load generator: with no --server/--router (real traffic) a canary
    would be judged by nothing, so the loop says what to do instead and changes nothing."""
    stub_pipeline(monkeypatch, (0, 2))
    monkeypatch.setattr(pipeline_run, "build_drift_reference", lambda *args: None)
    manager = RolloutManager(output_root)
    manager.init(1)
    assert cli.main(["--output-root", str(output_root)]) == 1
    err = capsys.readouterr().err
    assert "give --server and --router" in err and "python -m demos.release" in err
    assert (manager.state().stable, manager.state().canary) == (1, None)
    assert [r["action"] for r in manager.history()] == ["init"]


# --- drift that retrains: requests claimed once, outcomes recorded --------------------------
def file_request(output_root, i: int = 0) -> StatePaths:
    paths = StatePaths.for_output_root(output_root)
    assert retrain_requests.file_request(
        paths, {"id": f"req-{i}", "reason": "input drift: test"}, "router"
    )
    return paths


@pytest.fixture
def no_drift_reference(monkeypatch) -> list:
    built = []
    monkeypatch.setattr(
        pipeline_run, "build_drift_reference", lambda args, manager, version: built.append(version)
    )
    return built


def test_a_retrain_request_is_claimed_run_and_marked_done(
    output_root, monkeypatch, no_drift_reference
):
    calls = stub_pipeline(monkeypatch, (0, 2))
    paths = file_request(output_root)
    assert cli.main(["--output-root", str(output_root), "--if-retrain-requested"]) == 0
    assert len(calls) == 1 and no_drift_reference == [2]
    [outcome] = retrain_requests.outcomes(paths)
    assert (outcome["id"], outcome["status"], outcome["outcome"]) == ("req-0", "done", "deployed")
    assert retrain_requests.pending(paths) is None and retrain_requests.running(paths) == []
    # consumed: a second run finds nothing and does not train again
    assert cli.main(["--output-root", str(output_root), "--if-retrain-requested"]) == 0
    assert len(calls) == 1


@pytest.mark.parametrize(
    "result, code, reason",
    [
        ((1, None), 1, "pipeline failed (exit 1)"),
        ((0, None), 0, "no new model to roll out"),
    ],
)
def test_a_retrain_that_ships_nothing_is_marked_failed_and_stable_serves(
    output_root, monkeypatch, no_drift_reference, result, code, reason
):
    stub_pipeline(monkeypatch, result)
    RolloutManager(output_root).init(1)
    paths = file_request(output_root)
    assert cli.main(["--output-root", str(output_root), "--if-retrain-requested"]) == code
    [outcome] = retrain_requests.outcomes(paths)
    assert outcome["status"] == "failed" and reason in outcome["outcome_reason"]
    state = RolloutManager(output_root).state()
    assert (state.stable, state.canary) == (1, None)
    assert RolloutManager(output_root).history()[-1]["action"] == "retrain_failed"


def test_a_rolled_back_canary_fails_the_request_with_the_analysis_reason(
    output_root, monkeypatch, no_drift_reference
):
    stub_pipeline(monkeypatch, (0, 2))
    manager = RolloutManager(output_root)
    manager.init(1)

    def roll_out(args, manager, version, tools):
        manager.start(version)
        manager.rollback(actor="canary-analysis", reason="collapsed predictions")
        return Outcome(
            EXIT_ROLLED_BACK,
            "rolled_back",
            f"canary {version} rolled back: collapsed predictions",
        )

    monkeypatch.setattr(loop, "roll_out", roll_out)
    paths = file_request(output_root)
    assert cli.main(["--output-root", str(output_root), "--if-retrain-requested"]) == 3
    [outcome] = retrain_requests.outcomes(paths)
    assert outcome["status"] == "failed" and "collapsed predictions" in outcome["outcome_reason"]
    assert manager.state().stable == 1


def test_an_error_mid_canary_rolls_back_and_fails_the_request(
    output_root, monkeypatch, no_drift_reference
):
    stub_pipeline(monkeypatch, (0, 2))
    manager = RolloutManager(output_root)
    manager.init(1)

    def roll_out(args, manager, version, tools):
        manager.start(version)
        raise ConnectionError("model server went away")

    monkeypatch.setattr(loop, "roll_out", roll_out)
    paths = file_request(output_root)
    with pytest.raises(ConnectionError):
        cli.main(["--output-root", str(output_root), "--if-retrain-requested"])
    state = manager.state()
    assert (state.stable, state.canary) == (1, None) and 2 in state.retired
    [outcome] = retrain_requests.outcomes(paths)
    assert outcome["status"] == "failed"
    assert outcome["outcome_reason"] == "ConnectionError: model server went away"


def count_claims(monkeypatch) -> list[str]:
    """Record which thread tried to claim a retrain request, each time one tried."""
    attempts: list[str] = []
    claim = retrain_requests.claim

    def counted(paths, owner):
        attempts.append(threading.current_thread().name)
        return claim(paths, owner)

    monkeypatch.setattr(retrain_requests, "claim", counted)
    return attempts


def test_watch_acts_on_a_request_filed_while_it_runs(output_root, monkeypatch, no_drift_reference):
    calls = stub_pipeline(monkeypatch, (0, 2))
    attempts = count_claims(monkeypatch)
    codes = []
    watcher = threading.Thread(
        target=lambda: codes.append(
            cli.main(
                [
                    "--output-root",
                    str(output_root),
                    "--watch",
                    "--poll-seconds",
                    "0.05",
                    "--max-runs",
                    "1",
                    "--watch-seconds",
                    "30",
                ]
            )
        )
    )
    watcher.start()
    # it polls, finds nothing, and keeps waiting without training
    wait_until(lambda: len(attempts) >= 3, "three polls of the watcher")
    assert calls == [] and watcher.is_alive()
    paths = file_request(output_root)
    watcher.join(timeout=30)
    assert not watcher.is_alive() and codes == [0] and len(calls) == 1
    assert [o["status"] for o in retrain_requests.outcomes(paths)] == ["done"]


def test_two_racing_watchers_retrain_once_per_request(output_root, monkeypatch, no_drift_reference):
    calls = []
    gate = threading.Event()
    attempts = count_claims(monkeypatch)

    def slow_pipeline(args, pipeline_args):
        calls.append(threading.current_thread().name)
        gate.wait(10)  # the other watcher keeps polling while this one trains
        return 0, None

    monkeypatch.setattr(pipeline_run, "train_and_push", slow_pipeline)
    RolloutManager(output_root).init(1)
    paths = file_request(output_root)
    argv = [
        "--output-root",
        str(output_root),
        "--watch",
        "--poll-seconds",
        "0.01",
        "--watch-seconds",
        "3",
    ]
    watchers = [threading.Thread(target=cli.main, args=(argv,), name=f"w{i}") for i in range(2)]
    for w in watchers:
        w.start()
    [winner] = wait_until(lambda: calls, "one watcher to claim the request")
    loser = {"w0": "w1", "w1": "w0"}[winner]
    before = attempts.count(loser)
    # the race is real: the other watcher tries to claim again while the first trains
    wait_until(
        lambda: attempts.count(loser) >= before + 3, f"{loser} to poll while {winner} trains"
    )
    gate.set()
    for w in watchers:
        w.join(timeout=30)
    assert calls == [winner]
    assert [o["id"] for o in retrain_requests.outcomes(paths)] == ["req-0"]


def test_a_pushed_model_identical_to_a_retired_version_starts_no_canary(
    output_root, monkeypatch, capsys, no_drift_reference
):
    """Regression: the Pusher reports a re-pushed model as pushed (to a new folder, or to the
    existing folder of the version it equals); the loop put it back into a canary."""
    from tests.rollout.conftest import fake_versions

    manager = RolloutManager(output_root)
    manager.init(1)
    manager.start(2)
    manager.rollback(reason="collapsed predictions")
    fake_versions(output_root, 4, content=(manager.model_dir / "2" / "saved_model.pb").read_bytes())
    stub_pipeline(monkeypatch, (0, 4))

    def no_canary(*args):
        raise AssertionError("a canary was started")

    monkeypatch.setattr(loop, "roll_out", no_canary)
    assert cli.main(["--output-root", str(output_root)]) == 0
    out = capsys.readouterr().out
    assert "version 4 has the same SavedModel content as retired version 2: no canary" in out
    assert no_drift_reference == []
    state = manager.state()
    assert (state.stable, state.canary) == (1, None)
    assert [r["action"] for r in manager.history()] == ["init", "start", "rollback"]
