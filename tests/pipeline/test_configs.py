"""Beam arguments: DirectRunner defaults, other runners' args untouched."""

from __future__ import annotations

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


def test_output_layout_is_under_one_root(tmp_path):
    assert configs.pipeline_root(tmp_path).is_relative_to(tmp_path)
    assert configs.metadata_path(tmp_path).parent == configs.pipeline_root(tmp_path)
    assert configs.serving_root(tmp_path).is_relative_to(tmp_path)
