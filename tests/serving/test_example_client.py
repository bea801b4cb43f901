"""The README's example client against the project's server on the pipeline-made model."""

from __future__ import annotations

import pytest

from models import features
from models.dataset import CIFAR10
from pipeline import configs
from rollout import settings as rollout_settings
from serving import example_client
from serving.image_codec import encode_png
from tests.serving.helpers import sample_images

# What a project wrapper passes: the pipeline's signature names (serving/ knows none).
CIFAR = {
    "model": configs.MODEL_NAME,
    "signature": features.SIGNATURE_IMAGE_BYTES,
    "input": features.INPUT_IMAGE_BYTES,
    "output": features.OUTPUT_CLASSES,
}

pytestmark = pytest.mark.slow  # needs the pipeline-made model (shared session fixture)


def test_client_gets_the_same_classes_over_grpc_and_rest(pipeline_server, capsys):
    code = example_client.main(
        [
            "--grpc",
            pipeline_server.grpc_target,
            "--rest",
            pipeline_server.rest_url,
            "--label",
            rollout_settings.STABLE_LABEL,
        ],
        defaults=CIFAR,
        images=[encode_png(i) for i in sample_images(4)],
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "model cifar10 version 1" in out
    assert "gRPC and REST agree" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 4
    assert all(r[2] in CIFAR10.class_names and r[2] == r[3] for r in rows)


def test_client_reports_an_unknown_label_and_exits_1(pipeline_server, capsys):
    code = example_client.main(
        [
            "--grpc",
            pipeline_server.grpc_target,
            "--rest",
            pipeline_server.rest_url,
            "--label",
            "no-such-label",
        ],
        defaults=CIFAR,
        images=[encode_png(i) for i in sample_images(1)],
    )
    assert code == 1
    assert "no-such-label" in capsys.readouterr().err
