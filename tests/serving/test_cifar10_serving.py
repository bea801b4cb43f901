"""The project's wrappers around the standalone server and client (cifar10_serving.py)."""

from __future__ import annotations

import pytest

import cifar10_serving
from ingest import settings as ingest_settings
from models.dataset import CIFAR10_CLASS_NAMES
from pipeline import configs
from serving import cli
from serving import defaults as serving_defaults
from tests.cifar_fixtures import write_cifar_layout


def test_server_defaults_are_the_projects_and_flags_win(tmp_path):
    defaults = cifar10_serving.server_defaults(str(tmp_path))
    args = cli.build_parser(defaults).parse_args([])
    assert args.model_name == configs.MODEL_NAME
    assert args.model_base_path == str(
        configs.serving_root(tmp_path).resolve() / configs.MODEL_NAME
    )
    assert (args.port, args.rest_api_port) == (
        serving_defaults.GRPC_PORT,
        serving_defaults.REST_PORT,
    )
    assert cifar10_serving.MONITORING_CONFIG.is_file()
    assert cli.build_parser(defaults).parse_args(["--rest_api_port=0"]).rest_api_port == 0


def test_a_model_name_picks_its_base_path_and_defaults_follow_the_data_root(tmp_path, monkeypatch):
    for argv in (["--model_name=my_photos"], ["--model-name", "my_photos"]):
        args = cli.build_parser(cifar10_serving.server_defaults(str(tmp_path), argv)).parse_args(
            argv
        )
        assert args.model_name == "my_photos"
        assert args.model_base_path == str(configs.serving_root(tmp_path).resolve() / "my_photos")
    photos = tmp_path / "my photos"
    for name in ("cat", "dog"):
        (photos / name).mkdir(parents=True)
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(photos))
    assert cifar10_serving.default_model_name() == "my-photos"  # the pipeline's rule
    assert cifar10_serving.server_defaults(str(tmp_path))["model_name"] == "my-photos"
    cifar = write_cifar_layout(tmp_path / "cifar", per_batch=2, n_test=2)
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(cifar))
    assert cifar10_serving.default_model_name() == configs.MODEL_NAME


def test_client_takes_an_image_folders_test_split_with_its_class_names(tmp_path):
    from tests.image_folder_fixtures import write_image_folder

    root = write_image_folder(tmp_path / "photos", classes=("cat", "ship"), per_class=20)
    images, truth = cifar10_serving.test_images(root, 5)
    assert len(images) == len(truth) == 5 and set(truth) <= {"cat", "ship"}
    assert all(i.startswith(b"\xff\xd8") for i in images)  # the JPEG files as they are


def test_client_sends_what_the_model_decodes_for_files_tensorflow_cannot_read(tmp_path):
    """A WebP photo in the folder (ingest trained on it as PNG) goes as that PNG: sent as
    it is, the model's graph would answer "Unknown image file format"."""
    from PIL import Image

    from tests.image_folder_fixtures import cifar_images

    photos = iter(cifar_images("cat", 8))
    for name in ("a", "b"):
        for split, count in (("train", 3), ("test", 1)):
            folder = tmp_path / "shop" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(next(photos)).save(folder / f"p{i}.webp", lossless=True)
    images, truth = cifar10_serving.test_images(tmp_path / "shop", 5)
    assert truth == ["a", "b"] and all(i.startswith(b"\x89PNG") for i in images)


@pytest.mark.slow  # needs the pipeline-made model (shared session fixture)
def test_client_sends_real_test_images(pipeline_server, capsys):
    code = cifar10_serving.client_main(
        [
            "--count",
            "3",
            "--data-root",
            str(ingest_settings.SHARED_DATA_ROOT),
            "--grpc",
            pipeline_server.grpc_target,
            "--rest",
            pipeline_server.rest_url,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 3
    assert all(r[1] in CIFAR10_CLASS_NAMES and r[2] == r[3] for r in rows), rows


def test_client_without_data_says_where_to_point_it(tmp_path, capsys):
    code = cifar10_serving.client_main(["--data-root", str(tmp_path / "absent")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
