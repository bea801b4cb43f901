"""``cifar10-rollout drift`` after a plain pipeline run: what it compares with, and what it
says when there is nothing to compare with yet."""

from __future__ import annotations

import pytest

from ingest import settings as ingest_settings
from rollout import cli
from rollout.canary.manager import RolloutManager
from rollout.drift import shifts
from rollout.state import StatePaths
from tests.cifar_fixtures import write_cifar_layout
from tests.rollout.conftest import install_version


def run(output_root, capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--output-root", str(output_root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_with_no_stable_version_the_check_names_the_commands_that_fix_it(output_root, capsys):
    """Regression: after scripts/run.sh the check said 'no Transform post_transform_stats
    ... run the pipeline first' although the pipeline had run (it runs Transform without
    statistics; the check needs a stable version's drift reference)."""
    code, out, err = run(output_root, capsys, "drift")
    assert code == 1 and out == ""
    assert "run the pipeline first" not in err and "no version is stable yet" in err
    assert f"cifar10-rollout --output-root {output_root} init 3" in err
    assert f"cifar10-rollout --output-root {output_root} drift" in err


def test_with_no_model_at_all_the_check_says_run_the_pipeline(tmp_path, capsys):
    code, _, err = run(tmp_path, capsys, "drift")
    assert code == 1 and "no model under" in err and "scripts/run.sh" in err


@pytest.mark.parametrize("batch", ["data_batch_2", "path"])
def test_the_check_builds_the_missing_reference_and_reads_the_named_batch(
    tmp_path, capsys, monkeypatch, tiny_models, batch
):
    """init then drift is enough: the stable version's reference is built on first use, and
    --batch takes a batch name in the data root (images the model was not trained on)."""
    root = write_cifar_layout(tmp_path / "data", per_batch=300, n_test=300, seed=4)
    monkeypatch.setenv(ingest_settings.DATA_ROOT_ENV, str(root))
    output_root = tmp_path / "outputs"
    install_version(output_root, tiny_models["brightness"], 7)
    RolloutManager(output_root).init(7)
    name = "data_batch_2" if batch == "data_batch_2" else str(root / "data_batch_2")
    code, out, _ = run(output_root, capsys, "drift", "--batch", name)
    assert code in (0, 3)
    assert "no drift reference of stable version 7 yet; building it" in out
    assert StatePaths.for_output_root(output_root).drift_reference(7).exists()
    assert f"of {root / 'data_batch_2'} vs" in out and "drift reference of version 7" in out
    # built once: the next check uses it
    code, out, _ = run(output_root, capsys, "drift", "--batch", name, "--shift", "darkened")
    assert code == 3 and "building it" not in out, out


def test_shift_choices_are_the_shift_modules_names():
    parser = cli.build_parser()
    for name in shifts.SHIFT_NAMES:
        assert parser.parse_args(["drift", "--shift", name]).shift == name
    with pytest.raises(SystemExit):
        parser.parse_args(["drift", "--shift", shifts.CLASS_PRIOR])


def pets_model(tmp_path):
    """A gray 40x24 three-class model pushed under the folder's name and made stable: the
    folder, and the command line's common flags."""
    from demos.synthetic_models import write_model
    from models.dataset import DatasetDescription
    from pipeline import configs
    from tests.image_folder_fixtures import write_image_folder

    classes = ("airplane", "cat", "ship")
    root = write_image_folder(tmp_path / "pets", classes, 350, sizes=[(40, 24)], gray=True)
    output_root = tmp_path / "out"
    write_model(
        configs.serving_root(output_root) / "pets" / "1",
        "brightness",
        DatasetDescription(classes, 40, 24, 1),
    )
    common = ["--output-root", str(output_root), "--model-name", "pets", "--actor", "t"]
    assert cli.main([*common, "init", "1"]) == 0
    return root, common


def test_the_check_of_an_image_folder_models_test_split(tmp_path, capsys):
    """The check builds the stable version's reference from the folder's test split at the
    model's shape, finds no drift in the same images and finds the inverted ones."""
    root, common = pets_model(tmp_path)
    code = cli.main([*common, "drift", "--data-root", str(root)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"of {root} vs" in out and "the drift reference of version 1" in out
    assert cli.main([*common, "drift", "--data-root", str(root), "--shift", "inverted"]) == 3


def test_a_folder_of_new_unlabelled_images_is_checked_at_the_models_shape(tmp_path, capsys):
    """``--batch DIR``: new photos in no particular layout, some in colour (the model is gray),
    with a broken file among them: decoded and converted as the model does, the broken one
    listed; their negatives drift, the photos themselves do not. (Photos taken at another
    size do drift: resizing smooths them, which the blockiness signal sees.)"""
    from PIL import Image, ImageOps

    from tests.image_folder_fixtures import cifar_images

    root, common = pets_model(tmp_path)
    new, negatives = tmp_path / "new_photos", tmp_path / "negatives"
    (new / "day 1").mkdir(parents=True)
    negatives.mkdir()
    photos = [p for name in ("airplane", "cat", "ship") for p in cifar_images(name, 60, 360)]
    for i, pixels in enumerate(photos):  # the classes in the folder's proportions: no drift
        colour = Image.fromarray(pixels).resize((24, 40), Image.BILINEAR)
        photo = colour.convert("L")
        if i % 2:  # in colour, as JPEGs in a sub-folder: the model makes them gray
            colour.save(new / "day 1" / f"{i}.jpg", quality=95)
        else:
            photo.save(new / f"{i}.png")
        ImageOps.invert(photo).save(negatives / f"{i}.jpg", quality=95)
    (new / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    assert cli.main([*common, "drift", "--data-root", str(root), "--batch", str(new)]) == 0
    out = capsys.readouterr().out
    assert "left out of" in out and "broken.jpg: corrupt or truncated image" in out
    assert f"of {new} vs" in out and "the drift reference of version 1" in out
    assert cli.main([*common, "drift", "--data-root", str(root), "--batch", str(negatives)]) == 3
    (tmp_path / "nothing").mkdir()
    code = cli.main([*common, "drift", "--batch", str(tmp_path / "nothing")])
    assert code == 1 and "holds no usable image" in capsys.readouterr().err
