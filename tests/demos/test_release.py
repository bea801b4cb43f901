"""``python -m demos.release``: the release loop with the demo's load generator and fault
injection: the load generator's data root (fast) and one real run that rolls a faulty model
back in front of the pipeline-made stable model (slow)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from demos import release as demo_release
from ingest import settings as ingest_settings
from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary.manager import RolloutManager
from rollout.policy import load_policy
from rollout.release import cli, loop
from rollout.release.outcome import EXIT_ROLLED_BACK
from tests.rollout.conftest import fake_versions


def test_inject_faulty_offers_only_broken_behaviours():
    parser = cli.build_parser(demo_release.DEMO_TOOLS)
    assert parser.parse_args(["--inject-faulty", "error"]).inject_faulty == "error"
    with pytest.raises(SystemExit):
        parser.parse_args(["--inject-faulty", "brightness"])
    assert "--inject-faulty" not in cli.build_parser().format_help()


@pytest.mark.parametrize("given_by", ["flag", "env"])
def test_the_load_generator_reads_images_from_data_root(tmp_path, monkeypatch, given_by):
    """Regression: the load generator's images came from the hard-coded shared folder; now
    --data-root, else $CIFAR10_DATA_ROOT (ingest.cifar10.resolve_data_root, as everywhere)."""
    import numpy as np

    from demos import loadgen
    from ingest import cifar10
    from rollout import serving_client
    from rollout.canary import watch
    from tests.cifar_fixtures import write_cifar_layout

    output_root = tmp_path / "outputs"
    fake_versions(output_root, 1, 2, 3)
    root = write_cifar_layout(tmp_path / "my-data", per_batch=4, n_test=7, seed=3)
    sent = []

    class FakeLoad:
        def __init__(self, url, images, labels, rate_per_second, model):
            sent.append((images, model))

        def start(self):
            return self

        def stop(self):
            return loadgen.ClientView()

    class NoWindows:
        def __init__(self, *args, **kwargs):
            pass

        def run_window(self):
            return None

    monkeypatch.setattr(loadgen, "LoadGenerator", FakeLoad)
    monkeypatch.setattr(serving_client, "wait_until_available", lambda *a, **k: True)
    monkeypatch.setattr(serving_client, "warm_up", lambda *a, **k: None)
    monkeypatch.setattr(watch, "CanaryWatch", NoWindows)
    manager = RolloutManager(output_root)
    manager.init(1)
    flag = ["--data-root", str(root)] if given_by == "flag" else []
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(root if given_by == "env" else tmp_path))
    args = cli.build_parser(demo_release.DEMO_TOOLS).parse_args(
        [
            "--output-root",
            str(output_root),
            *flag,
            "--server",
            "http://127.0.0.1:1",
            "--router",
            "http://127.0.0.1:2",
        ]
    )
    loop.roll_out(args, manager, 2, demo_release.DEMO_TOOLS)
    [(images, model)] = sent
    assert np.array_equal(images, cifar10.load_test(root).images)
    assert model == "cifar10"  # the pipeline's model name for CIFAR-10 data


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_faulty_release_is_rolled_back_while_the_real_model_keeps_serving(
    pushed_model_dir, tmp_path, capsys
):
    stable = int(pushed_model_dir.name)
    shutil.copytree(
        pushed_model_dir, configs.serving_root(tmp_path) / configs.MODEL_NAME / str(stable)
    )
    policy_path = tmp_path / "policy.yaml"
    policy = yaml.safe_load(rollout_settings.ROLLOUT_POLICY_PATH.read_text())
    policy["weight_steps"] = [25, 50, 100]
    policy["analysis"].update(window_seconds=6, min_requests=15)
    policy_path.write_text(yaml.safe_dump(policy))
    manager = RolloutManager(tmp_path, load_policy(policy_path))
    manager.init(stable)
    code = demo_release.main(
        [
            "--output-root",
            str(tmp_path),
            "--policy",
            str(policy_path),
            "--inject-faulty",
            "constant",
            "--load-rate",
            "30",
        ]
    )
    out = capsys.readouterr().out
    assert code == EXIT_ROLLED_BACK, out
    assert "failed requests on stable: 0" in out
    state = manager.state()
    assert state.stable == stable and state.canary is None and len(state.retired) == 1
    rollback = manager.history()[-1]
    assert rollback["action"] == "rollback" and rollback["actor"] == "canary-analysis"
    assert "collapsed predictions: 100% are one class" in rollback["reason"]
    assert rollback["metrics"]["canary"]["predicted_classes"] == {
        "0": rollback["metrics"]["canary"]["requests"]
    }
