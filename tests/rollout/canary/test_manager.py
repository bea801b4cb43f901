from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import manager as manager_module
from rollout.canary import model_config
from rollout.canary.manager import RolloutError, RolloutManager
from rollout.policy import load_policy
from rollout.state import read_state
from tests.rollout import crash_cli


def served(manager: RolloutManager) -> model_config.ServedVersions:
    return model_config.read(manager.config_path)


def test_a_full_rollout_moves_labels_and_records_every_decision(manager):
    manager.init(1, actor="alice", reason="first")
    assert served(manager).labels == {rollout_settings.STABLE_LABEL: 1}
    manager.start(2, actor="bob")
    assert served(manager).labels == {
        rollout_settings.STABLE_LABEL: 1,
        rollout_settings.CANARY_LABEL: 2,
    }
    assert served(manager).versions == [1, 2]
    assert manager.state().weight == manager.policy.weight_steps[0]
    for expected in manager.policy.weight_steps[1:]:
        assert manager.step().weight == expected
    state = manager.promote(metrics={"canary": {"error_rate": 0.0}})
    assert (state.stable, state.canary, state.weight, state.retired) == (2, None, 0, [1])
    assert served(manager).labels == {rollout_settings.STABLE_LABEL: 2}
    assert served(manager).versions == [2]
    history = manager.history()
    assert [r["action"] for r in history] == ["init", "start", "step", "step", "promote"]
    assert history[0]["actor"] == "alice" and history[1]["actor"] == "bob"
    assert history[-1]["metrics"] == {"canary": {"error_rate": 0.0}}
    assert all(r["time"] and r["reason"] for r in history)


def test_rollback_retires_the_canary_and_keeps_stable(manager):
    manager.init(1)
    manager.start(2, weight=50)
    state = manager.rollback(reason="error rate 100%")
    assert (state.stable, state.canary, state.retired) == (1, None, [2])
    assert served(manager).labels == {rollout_settings.STABLE_LABEL: 1}
    assert manager.history()[-1]["reason"] == "error rate 100%"


@pytest.mark.parametrize(
    "operation, message",
    [
        (lambda m: m.start(2), "no stable version yet"),
        (lambda m: m.promote(), "cannot promote: no canary rollout in progress"),
        (lambda m: m.rollback(), "cannot roll back: no canary rollout in progress"),
        (lambda m: m.step(), "cannot step: no canary rollout in progress"),
        (lambda m: m.init(9), "unknown version 9.*versions on disk: 1, 2, 3"),
    ],
)
def test_operations_that_do_not_apply_say_why(manager, operation, message):
    with pytest.raises(RolloutError, match=message):
        operation(manager)
    assert manager.history() == []


def test_start_checks_version_weight_and_a_running_rollout(manager):
    manager.init(1)
    with pytest.raises(RolloutError, match="already stable"):
        manager.start(1)
    with pytest.raises(RolloutError, match="weight must be a percentage"):
        manager.start(2, weight=150)
    manager.start(2)
    with pytest.raises(RolloutError, match="rollout of version 2 is in progress"):
        manager.start(3)
    manager.step(weight=100)
    with pytest.raises(RolloutError, match="last step"):
        manager.step()


def test_a_crash_between_the_state_and_config_writes_is_finished_by_the_next_reader(
    manager, monkeypatch
):
    manager.init(1)
    real_write = manager_module.atomic_io.write_text_atomic

    def crash_on_config(path, text):
        if path == manager.config_path:
            raise KeyboardInterrupt("killed after the state write")
        real_write(path, text)

    monkeypatch.setattr(manager_module.atomic_io, "write_text_atomic", crash_on_config)
    with pytest.raises(KeyboardInterrupt):
        manager.start(2)
    monkeypatch.setattr(manager_module.atomic_io, "write_text_atomic", real_write)
    # The config still shows the old, valid state; the state records the pending decision.
    assert served(manager).labels == {rollout_settings.STABLE_LABEL: 1}
    assert read_state(manager.paths.state).pending["action"] == "start"
    fresh = RolloutManager(manager.output_root, manager.policy)  # "a new process"
    state = fresh.state()
    assert (state.canary, state.weight, state.pending) == (2, 10, None)
    assert served(fresh).labels == {
        rollout_settings.STABLE_LABEL: 1,
        rollout_settings.CANARY_LABEL: 2,
    }
    assert [r["action"] for r in fresh.history()] == ["init", "start"]
    fresh.state()  # recovering twice must not duplicate the history line
    assert len(fresh.history()) == 2


@pytest.mark.parametrize("crash_after", crash_cli.STEPS)
def test_a_killed_cli_process_resumes_in_the_next_one(output_root, crash_after):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def cli(*args: str, killed_after: str | None = None) -> subprocess.CompletedProcess:
        command = (
            ["-m", "tests.rollout.crash_cli", killed_after]
            if killed_after
            else ["-m", "rollout.cli"]
        )
        return subprocess.run(
            [sys.executable, *command, "--output-root", str(output_root), *args],
            env=env,
            capture_output=True,
            text=True,
            cwd=configs.REPO_ROOT,
            timeout=60,
        )

    assert cli("init", "1").returncode == 0
    killed = cli("start", "2", killed_after=crash_after)
    assert killed.returncode == crash_cli.EXIT_KILLED, killed.stderr  # died between writes
    on_disk = read_state(RolloutManager(output_root, load_policy()).paths.state)
    assert on_disk.pending is not None and on_disk.pending["action"] == "start"
    resumed = cli("status", "--json")
    assert resumed.returncode == 0, resumed.stderr
    state = json.loads(resumed.stdout)
    assert (state["stable"], state["canary"], state["pending"]) == (1, 2, None)
    manager = RolloutManager(output_root, load_policy())
    assert served(manager).labels == {
        rollout_settings.STABLE_LABEL: 1,
        rollout_settings.CANARY_LABEL: 2,
    }
    assert [r["action"] for r in manager.history()] == ["init", "start"]
    assert cli("promote").returncode == 0
    assert manager.state().stable == 2


def test_an_existing_base_path_is_kept_when_labels_move(manager):
    """In a container the models are mounted elsewhere (deploy/serving: /models/cifar10)."""
    manager.config_path.parent.mkdir(parents=True, exist_ok=True)
    manager.config_path.write_text(
        model_config.render(model_config.ServedVersions("/models/cifar10", stable=None))
    )
    manager.init(1)
    manager.start(2)
    assert served(manager).base_path == "/models/cifar10"
    assert served(manager).labels == {
        rollout_settings.STABLE_LABEL: 1,
        rollout_settings.CANARY_LABEL: 2,
    }


@pytest.mark.parametrize("name", ["²", "0" * 19, "7.partial"])
def test_only_tf_serving_version_folders_count(manager, name):
    """Regression: rollout listed versions with str.isdigit(), which accepts '²' (and then
    crashed in int()) and 19-digit names TF Serving ignores; serving.model_paths decides."""
    odd = manager.model_dir / name
    odd.mkdir()
    (odd / "saved_model.pb").write_bytes(b"")
    (manager.model_dir / "8").mkdir()
    (manager.model_dir / "8" / "saved_model.pb").mkdir()  # not a file: incomplete
    assert manager.versions_on_disk() == [1, 2, 3]
    with pytest.raises(RolloutError, match=r"versions on disk: 1, 2, 3\)"):
        manager.init(8)


def test_a_version_identical_to_the_stable_or_a_retired_one_gets_no_canary(output_root):
    """Regression: a re-pushed model (same SavedModel content, new or old version number)
    was put back into a canary, although it is serving already or was rolled back."""
    from tests.rollout.conftest import fake_versions

    manager = RolloutManager(output_root, load_policy())
    manager.init(1)
    manager.start(2)
    manager.rollback(reason="collapsed predictions")
    fake_versions(
        output_root, 2, 4, content=(manager.model_dir / "2" / "saved_model.pb").read_bytes()
    )  # 4: the rolled-back model pushed again
    fake_versions(
        output_root, 5, content=(manager.model_dir / "1" / "saved_model.pb").read_bytes()
    )  # 5: a copy of stable
    for version, message in (
        (2, "version 2 is the retired version 2"),
        (4, "same SavedModel content as retired version 2"),
        (5, "same SavedModel content as stable version 1"),
    ):
        with pytest.raises(RolloutError, match=message):
            manager.start(version)
    assert manager.state().canary is None
    assert [r["action"] for r in manager.history()] == ["init", "start", "rollback"]
    assert manager.start(3).canary == 3  # different content: a real candidate


def test_the_content_fingerprint_sees_weights_and_ignores_warmup_files(tmp_path):
    from rollout.canary.manager import content_fingerprint

    a, b = tmp_path / "1", tmp_path / "2"
    for d in (a, b):
        (d / "variables").mkdir(parents=True)
        (d / "saved_model.pb").write_bytes(b"graph")
        (d / "variables" / "variables.index").write_bytes(b"index")
        (d / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights")
    (b / "assets.extra").mkdir()
    (b / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"warmup")
    (b / "fingerprint.pb").write_bytes(b"another export")
    assert content_fingerprint(a) == content_fingerprint(b)
    (b / "variables" / "variables.data-00000-of-00001").write_bytes(b"retrained")
    assert content_fingerprint(a) != content_fingerprint(b)
