"""``cifar10-release``: the decision flow (fast, pipeline stubbed) and one real run that
rolls a faulty model back in front of the pipeline-made stable model (slow)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from pipeline import configs
from rollout import alerts, release
from rollout.manager import RolloutManager
from rollout.policy import load_policy
from rollout.state import StatePaths


def stub_pipeline(monkeypatch, result: tuple[int, int | None]) -> list:
    calls = []

    def fake(args, pipeline_args):
        calls.append(pipeline_args)
        return result

    monkeypatch.setattr(release, "train_and_push", fake)
    return calls


def test_the_first_release_is_deployed_directly(output_root, monkeypatch, capsys):
    calls = stub_pipeline(monkeypatch, (0, 2))
    assert release.main(["--output-root", str(output_root), "--", "--beam-workers", "1"]) == 0
    assert calls == [["--beam-workers", "1"]]
    assert "DEPLOYED: version 2 is the first stable version" in capsys.readouterr().out
    state = RolloutManager(output_root).state()
    assert (state.stable, state.canary) == (2, None)


@pytest.mark.parametrize("result, code", [((0, None), 0), ((2, None), 2), ((1, None), 1)])
def test_nothing_is_rolled_out_when_the_pipeline_does_not_push(output_root, monkeypatch,
                                                               result, code):
    stub_pipeline(monkeypatch, result)
    RolloutManager(output_root).init(1)
    assert release.main(["--output-root", str(output_root)]) == code
    assert [r["action"] for r in RolloutManager(output_root).history()] == ["init"]


def test_retrain_requests_gate_the_run_and_are_consumed(output_root, monkeypatch):
    calls = stub_pipeline(monkeypatch, (0, None))
    args = ["--output-root", str(output_root), "--if-retrain-requested"]
    assert release.main(args) == 0 and calls == []
    paths = StatePaths.for_output_root(output_root)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.retrain_request.write_text('{"reason": "input drift", "id": "x"}')
    assert release.main(args) == 0 and len(calls) == 1
    assert alerts.pending_retrain_request(paths) is None


def test_server_without_router_is_a_usage_error(output_root):
    assert release.main(["--output-root", str(output_root), "--server", "http://x:1"]) == 2


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_faulty_release_is_rolled_back_while_the_real_model_keeps_serving(
        pushed_model_dir, tmp_path, capsys):
    stable = int(pushed_model_dir.name)
    shutil.copytree(pushed_model_dir, configs.serving_root(tmp_path) / configs.MODEL_NAME
                    / str(stable))
    policy_path = tmp_path / "policy.yaml"
    policy = yaml.safe_load(configs.ROLLOUT_POLICY_PATH.read_text())
    policy["weight_steps"] = [25, 50, 100]
    policy["analysis"].update(window_seconds=6, min_requests=15)
    policy_path.write_text(yaml.safe_dump(policy))
    manager = RolloutManager(tmp_path, load_policy(policy_path))
    manager.init(stable)
    code = release.main(["--output-root", str(tmp_path), "--policy", str(policy_path),
                         "--inject-faulty", "constant", "--load-rate", "30"])
    out = capsys.readouterr().out
    assert code == release.EXIT_ROLLED_BACK, out
    assert "failed requests on stable: 0" in out
    state = manager.state()
    assert state.stable == stable and state.canary is None and len(state.retired) == 1
    rollback = manager.history()[-1]
    assert rollback["action"] == "rollback" and rollback["actor"] == "canary-analysis"
    assert "collapsed predictions: 100% are one class" in rollback["reason"]
    assert rollback["metrics"]["canary"]["predicted_classes"] == {
        "0": rollback["metrics"]["canary"]["requests"]}
