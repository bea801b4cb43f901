"""Your own images, end to end: an image folder through the pipeline, pushed, served, queried.

Two small datasets made from the shared CIFAR-10 subset, unlike CIFAR-10 and unlike each other:
three classes as colour JPEGs at 32x32, and three other classes as gray PNGs at 40x40. Each is
run as a user runs it (``beam_runner.main``: the command ``scripts/run.sh`` calls), for two
epochs; the pushed model is served by the project's server and asked by class name over REST
(b64 images of another size and format) and gRPC. The colour run also scores an inference
folder holding a corrupt file.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from models import dataset, features
from pipeline import configs
from tests.image_folder_fixtures import cifar_images, write_image_folder
from tests.serving.helpers import GrpcClient, outputs
from tests.support.encoding import b64
from tests.support.ports import free_port
from tests.support.processes import running_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass(frozen=True)
class FolderCase:
    name: str  # the data folder's name: the model's and the pipeline's
    classes: tuple[str, str, str]
    shape: tuple[int, int, int]  # the model's input (height, width, channels)
    gray: bool
    image_format: str
    infer: bool


CASES = {
    "colour": FolderCase("pets", ("cat", "dog", "horse"), (32, 32, 3), False, "JPEG", True),
    "gray": FolderCase(
        "gray-vehicles", ("airplane", "ship", "truck"), (40, 40, 1), True, "PNG", False
    ),
}


@dataclass(frozen=True)
class FolderRun:
    case: FolderCase
    exit_code: int
    output_root: Path
    out: str

    @property
    def serving_dir(self) -> Path:
        return self.output_root / "serving" / self.case.name

    def version(self) -> Path:
        (version,) = [p for p in self.serving_dir.iterdir() if p.name.isdigit()]
        return version


def encoded(pixels: np.ndarray, image_format: str, size: tuple[int, int] | None = None) -> bytes:
    image = Image.fromarray(pixels)
    if size:
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


@pytest.fixture(scope="module", params=sorted(CASES))
def folder_run(request, tmp_path_factory) -> FolderRun:
    """The case's folder written, then run as ``scripts/run.sh --data-root DIR`` runs it
    (the CLI's flag parser, the one run path, the report), its output kept."""
    import beam_runner
    import report
    from pipeline import runner

    case = CASES[request.param]
    work = tmp_path_factory.mktemp(request.param)
    sizes = [case.shape[:2]] if case.shape[:2] != (32, 32) else []
    data_root = write_image_folder(
        work / case.name,
        case.classes,
        per_class=40,
        sizes=sizes,
        gray=case.gray,
        image_format=case.image_format,
    )
    flags = ["--data-root", str(data_root), "--output-root", str(work / "out"), "--epochs", "2"]
    flags += ["--accuracy-lower-bound", "0"]  # two epochs on 120 images: bless, whatever it scores
    if case.infer:
        infer = work / "new photos"
        infer.mkdir()
        for i, pixels in enumerate(cifar_images("dog", 4, offset=60)):
            (infer / f"dog {i}.jpg").write_bytes(encoded(pixels, "JPEG", (50, 60)))
        (infer / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
        flags += ["--infer-dir", str(infer)]
    out = io.StringIO()
    outcome = runner.run(
        beam_runner.parse_args(flags), write_report=report.write_run_report, out=out
    )
    return FolderRun(case, outcome.exit_code, work / "out", out.getvalue())


def test_the_run_pushes_a_model_of_the_folders_shape_and_classes(folder_run):
    case = folder_run.case
    assert folder_run.exit_code == 0, folder_run.out
    assert f"dataset: 3 classes ({', '.join(case.classes)})" in folder_run.out
    assert "model input {}x{}x{}".format(*case.shape) in folder_run.out
    description = dataset.from_model(folder_run.version())
    assert description.class_names == case.classes
    assert description.image_shape == case.shape
    assert (folder_run.output_root / "pipelines" / case.name / "metadata.sqlite").is_file()


def test_served_model_answers_with_the_folders_class_names(folder_run, tmp_path):
    case = folder_run.case
    assert folder_run.exit_code == 0, folder_run.out
    rest_port, grpc_port = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "serving",
        f"--model_base_path={folder_run.serving_dir}",
        f"--model_name={case.name}",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
    ]
    pixels = cifar_images(case.classes[1], 3, offset=200)
    if case.gray:
        pixels = np.stack([np.asarray(Image.fromarray(p).convert("L")) for p in pixels])
    with running_process(
        command, tmp_path / "server.log", what="python -m serving", cwd=configs.REPO_ROOT
    ) as server:
        rest = server.wait_ready(
            lambda: re.search(r"REST at (http://[^\s,;]+)", server.log_text()), timeout=180
        ).group(1)
        # REST: b64 images of another size and format than training's, by signature name.
        body = {
            "signature_name": features.SIGNATURE_IMAGE_BYTES,
            "instances": [
                b64(encoded(p, "PNG" if case.gray else "JPEG", (57, 45))) for p in pixels
            ],
        }
        answer = requests.post(f"{rest}/v1/models/{case.name}:predict", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert len(predictions) == 3
        for p in predictions:
            assert p[features.OUTPUT_CLASSES] in case.classes
            assert p[features.OUTPUT_CLASSES] == case.classes[int(np.argmax(p["probabilities"]))]

        # A decompression bomb is refused from its header: a 4xx naming why, and the server
        # goes on answering.
        from tests.ingest.test_bad_input import png_bomb

        body["instances"] = [b64(png_bomb(30_000, 30_000))]
        refused = requests.post(f"{rest}/v1/models/{case.name}:predict", json=body, timeout=60)
        assert refused.status_code == 400 and "more than 40000000 pixels" in refused.text

        # gRPC: uint8 pixels at the model's input size, which the metadata announces.
        client = GrpcClient(f"127.0.0.1:{grpc_port}")
        try:
            _, signatures = client.metadata(case.name)
            images_input = signatures.signature_def[features.SIGNATURE_IMAGES].inputs[
                features.INPUT_IMAGES
            ]
            assert [d.size for d in images_input.tensor_shape.dim] == [-1, *case.shape]
            at_size = np.stack(
                [np.asarray(Image.fromarray(p).resize(case.shape[1::-1])) for p in pixels]
            ).reshape(3, *case.shape)
            reply = outputs(
                client.predict(
                    case.name,
                    {features.INPUT_IMAGES: at_size},
                    signature=features.SIGNATURE_IMAGES,
                )
            )
        finally:
            client.close()
        names = [n.decode() for n in reply[features.OUTPUT_CLASSES]]
        assert names == [case.classes[i] for i in reply[features.OUTPUT_CLASS_IDS]]
        assert reply[features.OUTPUT_PROBABILITIES].shape == (3, 3)


def test_the_inference_folder_gets_its_predictions_file(folder_run):
    assert folder_run.exit_code == 0, folder_run.out
    if not folder_run.case.infer:
        assert "predictions:" not in folder_run.out  # no --infer-dir, no BulkInferrer
        return
    match = re.search(
        r"predictions: 4 image\(s\) -> (\S+predictions\.csv); 1 unreadable", folder_run.out
    )
    assert match, folder_run.out
    with open(match.group(1), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["path"] for r in rows) == [f"dog {i}.jpg" for i in range(4)]
    version = folder_run.version().name
    for row in rows:
        assert row["class_name"] in folder_run.case.classes
        assert 1 / 3 <= float(row["probability"]) <= 1.0
        assert row["model_version"] == version
    unreadable = Path(match.group(1)).with_name("unreadable.csv").read_text()
    assert "broken.jpg" in unreadable
