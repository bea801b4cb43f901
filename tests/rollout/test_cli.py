from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest import settings as ingest_settings
from rollout import cli
from rollout import settings as rollout_settings


def run(output_root, capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--output-root", str(output_root), "--actor", "tester", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_commands_walk_a_rollout_and_history_shows_who_what_why(output_root, capsys):
    assert run(output_root, capsys, "init", "1")[0] == 0
    code, out, _ = run(
        output_root, capsys, "--reason", "new span 2", "start", "2", "--weight", "10"
    )
    assert code == 0 and "canary:  2 at 10% (next step: 50%" in out
    code, out, _ = run(output_root, capsys, "step")
    assert code == 0 and "canary:  2 at 50%" in out
    code, out, _ = run(output_root, capsys, "promote")
    assert code == 0 and "stable:  2" in out and "retired: 1" in out
    code, out, _ = run(output_root, capsys, "history")
    lines = out.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["init", "start", "step", "promote"]
    assert "by tester: new span 2" in lines[1]
    code, out, _ = run(output_root, capsys, "status", "--json")
    assert json.loads(out)["stable"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["start", "2"], "error: no stable version yet; make one with 'init 2'"),
        (["promote"], "error: cannot promote: no canary rollout in progress (nothing served)"),
        (["rollback"], "error: cannot roll back: no canary rollout in progress"),
        (["init", "42"], "error: unknown version 42: not found under"),
        (["watch", "--max-windows", "1"], "error: no canary rollout in progress; nothing to"),
    ],
)
def test_errors_are_one_clear_line_and_exit_1(output_root, capsys, args, message):
    code, out, err = run(output_root, capsys, *args)
    assert code == 1
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1


def test_unknown_version_when_starting_a_canary(output_root, capsys):
    run(output_root, capsys, "init", "1")
    code, _, err = run(output_root, capsys, "start", "77")
    assert code == 1 and "unknown version 77" in err and "versions on disk: 1, 2, 3" in err


def test_bad_arguments_exit_2(output_root, capsys):
    assert run(output_root, capsys, "start", "two")[0] == 2
    assert run(output_root, capsys, "frobnicate")[0] == 2


def test_a_bad_policy_file_is_reported(output_root, capsys, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("weight_steps: [50, 10]\n")
    code, _, err = run(output_root, capsys, "--policy", str(policy), "status")
    assert code == 1 and "weight_steps must increase strictly" in err


def test_sync_rewrites_a_hand_edited_config(output_root, capsys):
    run(output_root, capsys, "init", "1")
    config = rollout_settings.model_config_path(output_root)
    config.write_text("model_config_list {}\n")
    assert run(output_root, capsys, "sync")[0] == 0
    assert 'key: "stable"' in config.read_text()


def test_history_of_alerts_when_there_are_none(output_root, capsys):
    code, out, _ = run(output_root, capsys, "history", "--alerts")
    assert code == 0 and "no alerts recorded" in out


def test_status_shows_the_last_drift_alert_and_a_pending_retrain_request(output_root, capsys):
    from rollout.drift import alerts
    from rollout.drift.monitor import DriftReading
    from rollout.policy import load_policy
    from rollout.state import StatePaths

    policy = load_policy().drift
    paths = StatePaths.for_output_root(output_root)
    alerts.record_drift_alert(
        paths, DriftReading(0.3, 300, True, True), replace(policy, on_drift="retrain"), "ref"
    )
    code, out, _ = run(output_root, capsys, "status")
    assert code == 0
    assert "last alert:" in out and "JS distance 0.300 > threshold" in out
    assert "retrain requested:" in out and "--if-retrain-requested" in out
    code, out, _ = run(output_root, capsys, "history", "--alerts")
    assert "drift_alert" in out


@pytest.mark.parametrize("shift, code", [("none", 0), ("inverted", 3), ("darkened", 3)])
def test_drift_command_flags_shifted_batches_and_records_alerts(
    output_root, capsys, tmp_path, shift, code
):
    from rollout import atomic_io
    from rollout.state import StatePaths
    from tests.rollout.drift.test_monitor import write_stats
    from tests.system_deps import shared_cifar

    stats = write_stats(tmp_path / "FeatureStats.pb", shared_cifar("data_batch_1").images)
    got, out, _ = run(
        output_root, capsys, "drift", "--training-stats", str(stats), "--shift", shift
    )
    assert got == code
    assert out.startswith("DRIFT" if code else "no drift")
    alerts_logged = atomic_io.read_jsonl(StatePaths.for_output_root(output_root).alerts)
    assert len(alerts_logged) == (1 if code else 0)


def test_global_options_also_work_after_the_command(output_root, capsys):
    assert cli.main(["init", "1", "--output-root", str(output_root)]) == 0
    assert (
        cli.main(
            [
                "start",
                "2",
                "--output-root",
                str(output_root),
                "--reason",
                "late flag",
                "--actor",
                "carol",
            ]
        )
        == 0
    )
    capsys.readouterr()
    record = cli.RolloutManager(output_root).history()[-1]
    assert (record["reason"], record["actor"]) == ("late flag", "carol")


def test_drift_reads_the_test_batch_of_the_resolved_data_root(
    output_root, capsys, tmp_path, monkeypatch
):
    """One data-root rule for every tool (ingest.cifar10.resolve_data_root): $CIFAR10_DATA_ROOT
    when no --data-root is given."""
    from tests.cifar_fixtures import write_cifar_layout
    from tests.rollout.drift.test_monitor import write_stats

    root = write_cifar_layout(tmp_path / "my-data", per_batch=4, n_test=300, seed=3)
    stats = write_stats(
        tmp_path / "FeatureStats.pb",
        np.random.default_rng(0).integers(0, 256, (50, 32, 32, 3), np.uint8),
    )
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(root))
    code, out, _ = run(output_root, capsys, "drift", "--training-stats", str(stats))
    assert code in (0, 3) and f"of {root / ingest_settings.TEST_BATCH} vs" in out


def test_model_name_picks_the_served_model_and_its_config_entry(tmp_path, capsys):
    """--model-name: the versions under <serving root>/<name> and the models.config entry of
    that name; the default follows the data root as the pipeline's does."""
    from pipeline import configs
    from serving import model_config as serving_config

    model_dir = configs.serving_root(tmp_path) / "my-photos"
    for version in (1, 2):
        (model_dir / str(version)).mkdir(parents=True)
        (model_dir / str(version) / "saved_model.pb").write_bytes(f"graph {version}".encode())
    code, out, err = run(tmp_path, capsys, "--model-name", "my-photos", "init", "2")
    assert code == 0, err
    assert "model my-photos" in out
    config_path = configs.serving_root(tmp_path) / "models.config"
    entries = serving_config.load_file(config_path)
    assert list(entries) == ["my-photos"] and Path(entries["my-photos"].base_path) == model_dir
    code, _, err = run(tmp_path, capsys, "init", "2")  # default cifar10: no such versions
    assert code == 1 and "version 2" in err


def test_model_name_default_follows_the_data_root(tmp_path, monkeypatch):
    photos = tmp_path / "my photos"
    for name in ("cat", "dog"):
        (photos / name).mkdir(parents=True)
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(photos))
    args = cli.build_parser().parse_args(["status"])
    assert cli.model_name_of(args) == "my-photos"
