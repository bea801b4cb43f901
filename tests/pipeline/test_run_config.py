"""Run configuration: one parser of the run flags, typed values, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.hparams import HParams
from pipeline import configs, run_config


def test_defaults_come_from_their_owners(tmp_path):
    config = run_config.parse(["--output-root", str(tmp_path)])
    assert config.hparams == HParams()
    assert config.accuracy_lower_bound is None  # the class count's floor, set once it is known
    assert config.serving_model_dir == configs.serving_root(tmp_path) / configs.MODEL_NAME
    assert config.metadata_path == configs.metadata_path(tmp_path)


def test_flags_and_beam_args(tmp_path):
    config = run_config.parse(
        [
            "--output-root",
            str(tmp_path),
            "--epochs",
            "2",
            "--limit",
            "9",
            "--beam-mode",
            "multi_processing",
            "--beam-workers",
            "2",
            "--",
            "--pickle_library=cloudpickle",
        ]
    )
    assert (config.hparams.epochs, config.limit) == (2, 9)
    args = config.beam_pipeline_args
    assert "--direct_running_mode=multi_processing" in args
    assert "--direct_num_workers=2" in args
    assert args[-1] == "--pickle_library=cloudpickle"


def test_another_runner_gets_its_args_untouched():
    config = run_config.parse_string("--epochs 1", "--runner=FlinkRunner --flink_master=f:8081")
    assert not any(a.startswith("--direct_") for a in config.beam_pipeline_args)
    assert config.beam_pipeline_args[-2:] == ["--runner=FlinkRunner", "--flink_master=f:8081"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epochs", "0"], "out of range"),
        (["--epochs", "many"], "invalid int"),
        (["--limit", "0"], "limit"),
        (["--beam-mode", "fast"], "invalid choice"),
        (["--no-such-flag"], "unrecognized"),
    ],
)
def test_bad_flags_raise_a_clear_error(flags, message):
    with pytest.raises(run_config.RunConfigError, match=message):
        run_config.parse(flags)


def test_hparams_round_trip_and_refuse_unknown_keys():
    hp = HParams(epochs=3, learning_rate=0.01)
    assert HParams.from_custom_config(hp.to_custom_config()) == hp
    assert HParams.from_custom_config(None) == HParams()
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        HParams.from_custom_config({"epoch": 3})


def test_output_root_is_absolute():
    assert run_config.RunConfig(output_root=Path("rel")).output_root.is_absolute()


def test_image_folder_flags(tmp_path):
    photos = tmp_path / "my photos"
    (photos / "cat").mkdir(parents=True)
    config = run_config.parse(
        [
            "--output-root",
            str(tmp_path / "out"),
            "--data-root",
            str(photos),
            "--data-layout",
            "image_folder",
            "--image-size",
            "64x48",
            "--channels",
            "1",
            "--skip-bad-images",
            "--infer-dir",
            str(tmp_path / "new"),
        ]
    )
    assert (config.data_layout, config.image_size, config.channels) == ("image_folder", (64, 48), 1)
    assert config.skip_bad_images and config.infer_dir == tmp_path / "new"
    # The served model, the pipeline and its spans are named after the folder.
    assert config.model_name == config.pipeline_name == "my-photos"
    assert config.serving_model_dir == (tmp_path / "out" / "serving" / "my-photos").resolve()
    assert config.examples_root == (tmp_path / "out" / "examples" / "my-photos").resolve()
    assert config.infer_examples_dir == config.examples_root / "infer"


def test_model_name_defaults_to_cifar10_for_cifar_data(tmp_path):
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    (cifar / "data_batch_1").write_bytes(b"")
    config = run_config.parse(["--output-root", str(tmp_path), "--data-root", str(cifar)])
    assert config.model_name == config.pipeline_name == configs.MODEL_NAME
    assert config.examples_root == configs.examples_root(tmp_path)  # today's layout
    named = run_config.parse(
        ["--output-root", str(tmp_path), "--data-root", str(cifar), "--model-name", "pets"]
    )
    assert (named.model_name, named.pipeline_name) == ("pets", "pets")
    assert run_config.default_model_name(None, "auto", {}) == configs.MODEL_NAME
    assert run_config.default_model_name(tmp_path / "фото", "auto", {}) == "images"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--image-size", "64by64"], "--image-size '64by64': expected HxW"),
        (["--image-size", "0x5"], "--image-size '0x5'"),
        (["--model-name", "my model"], "--model-name: 1-63 letters"),
        (["--data-layout", "zip"], "invalid choice"),
        (["--channels", "4"], "invalid choice"),
    ],
)
def test_bad_image_flags_raise_a_clear_error(flags, message):
    with pytest.raises(run_config.RunConfigError, match=message):
        run_config.parse(flags)


def test_image_size_accepts_one_number_for_a_square():
    assert run_config.parse_image_size("96") == (96, 96)
    assert run_config.parse_image_size("64X48") == (64, 48)
