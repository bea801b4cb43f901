"""Beam arguments: DirectRunner defaults, other runners' args untouched."""

from __future__ import annotations

import pytest

from pipeline import configs


def test_direct_runner_defaults_ship_the_project():
    args = configs.beam_pipeline_args("multi_processing", 2)
    assert "--direct_running_mode=multi_processing" in args
    assert "--direct_num_workers=2" in args
    assert f"--setup_file={configs.REPO_ROOT / 'setup.py'}" in args


def test_other_runner_args_pass_through_untouched():
    extra = ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/t"]
    args = configs.beam_pipeline_args(extra=extra)
    assert args[-4:] == extra
    assert not [a for a in args if a.startswith("--direct_")]


def test_user_packaging_flags_win():
    args = configs.beam_pipeline_args(extra=["--requirements_file=req.txt"])
    assert not [a for a in args if a.startswith("--setup_file")]


@pytest.mark.parametrize(
    ("classes", "floor"),
    [(10, configs.ACCURACY_LOWER_BOUND), (2, 0.6111), (3, 0.4815), (100, 0.23)],
)
def test_the_default_blessing_floor_sits_as_far_above_chance_as_cifars(classes, floor):
    assert configs.blessing_floor(classes) == pytest.approx(floor)
    share = (configs.blessing_floor(classes) - 1 / classes) / (1 - 1 / classes)
    assert share == pytest.approx(configs.FLOOR_SHARE_ABOVE_CHANCE, abs=1e-3)


def test_an_asked_for_floor_wins_even_zero():
    assert configs.blessing_floor(2, 0.0) == 0.0 and configs.blessing_floor(10, 0.9) == 0.9


def test_one_class_has_no_floor():
    with pytest.raises(ValueError, match="at least 2 classes"):
        configs.blessing_floor(1)


def test_output_layout_is_under_one_root(tmp_path):
    assert configs.pipeline_root(tmp_path).is_relative_to(tmp_path)
    assert configs.metadata_path(tmp_path).parent == configs.pipeline_root(tmp_path)
    assert configs.serving_root(tmp_path).is_relative_to(tmp_path)
