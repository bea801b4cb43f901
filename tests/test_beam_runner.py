"""beam_runner on bad input: a clear message, a non-zero exit, nothing pushed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import beam_runner
from pipeline import configs
from tests.cifar_fixtures import write_cifar_layout


@pytest.fixture
def output_root(tmp_path) -> Path:
    """An output root that already serves a model, which must stay untouched."""
    root = tmp_path / "out"
    old = configs.serving_root(root) / configs.MODEL_NAME / "1"
    old.mkdir(parents=True)
    (old / "saved_model.pb").write_bytes(b"previous model")
    return root


def assert_untouched(root: Path) -> None:
    model_dir = configs.serving_root(root) / configs.MODEL_NAME
    assert [p.name for p in model_dir.iterdir()] == ["1"]
    assert (model_dir / "1" / "saved_model.pb").read_bytes() == b"previous model"


def run(data_root: Path, output_root: Path, *extra: str) -> int:
    return beam_runner.main(
        ["--data-root", str(data_root), "--output-root", str(output_root), "--epochs", "1", *extra]
    )


def test_missing_data_root(tmp_path, output_root, capsys):
    assert run(tmp_path / "absent", output_root) == 2
    assert "does not exist" in capsys.readouterr().err
    assert_untouched(output_root)


def test_corrupt_batch(tmp_path, output_root, capsys):
    data = write_cifar_layout(tmp_path / "d", per_batch=5, n_test=5)
    (data / "data_batch_4").write_bytes((data / "data_batch_4").read_bytes()[:100])
    assert run(data, output_root) == 2
    assert "data_batch_4: corrupt or truncated" in capsys.readouterr().err
    assert_untouched(output_root)


def test_wrong_image_size(tmp_path, output_root, capsys):
    import numpy as np

    from tests.cifar_fixtures import write_batch

    data = write_cifar_layout(tmp_path / "d", per_batch=5, n_test=5)
    write_batch(data / "test_batch", np.zeros((5, 100), np.uint8), [0] * 5)
    assert run(data, output_root) == 2
    assert "test_batch: images of the wrong size" in capsys.readouterr().err
    assert_untouched(output_root)


def test_empty_split(tmp_path, output_root, capsys):
    data = write_cifar_layout(tmp_path / "d", per_batch=5, n_test=0)
    assert run(data, output_root) == 2
    assert "test would be empty" in capsys.readouterr().err
    assert_untouched(output_root)


@pytest.mark.slow
def test_out_of_range_labels_stop_before_trainer(tmp_path, output_root, capsys):
    data = write_cifar_layout(tmp_path / "d", per_batch=10, n_test=10, labels=[12] * 10)
    assert run(data, output_root) == 1
    captured = capsys.readouterr()
    assert "ExampleValidator found anomalies" in captured.err
    assert "feature 'label'" in captured.err
    from pipeline import summary

    result = summary.read_run(configs.metadata_path(output_root))
    assert result.components["AnomaliesGate"] == "FAILED"
    assert "Trainer" not in result.components and "Pusher" not in result.components
    assert_untouched(output_root)


def test_cli_exit_code_and_message(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "beam_runner.py",
            "--data-root",
            str(tmp_path / "none"),
            "--output-root",
            str(tmp_path / "out"),
        ],
        cwd=configs.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 2
    assert "error: data root" in proc.stderr and "--data-root" in proc.stderr


def test_a_value_out_of_range_is_one_line_naming_the_flag_its_value_and_range(capsys):
    with pytest.raises(SystemExit) as exited:
        beam_runner.parse_args(["--epochs", "0"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "error: hyperparameters out of range: --epochs 0 (must be at least 1)\n"
    )
