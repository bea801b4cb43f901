"""REST, gRPC and an in-process ``tf.saved_model.load`` give exactly the same predictions for
the same images, on the pipeline-made model."""

from __future__ import annotations

import numpy as np
import pytest
import requests
import tensorflow as tf

from models import features
from pipeline import configs
from tests.serving.helpers import GrpcClient, outputs, png, sample_images
from tests.support.encoding import b64, image_example

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
N = 32


@pytest.fixture(scope="module")
def reference(pushed_model_dir):
    images = sample_images(N)
    model = tf.saved_model.load(str(pushed_model_dir))
    out = model.signatures[features.SIGNATURE_IMAGES](
        **{features.INPUT_IMAGES: tf.constant(images)}
    )
    return images, {k: v.numpy() for k, v in out.items()}


def test_rest_grpc_and_in_process_agree_exactly(pipeline_server, reference):
    images, want = reference
    probs = want[features.OUTPUT_PROBABILITIES]
    assert len(set(want[features.OUTPUT_CLASS_IDS].tolist())) > 1, "degenerate model"
    model_url = f"{pipeline_server.rest_url}/v1/models/{configs.MODEL_NAME}:predict"
    client = GrpcClient(pipeline_server.grpc_target)

    got = {}
    r = requests.post(
        model_url,
        timeout=120,
        json={"signature_name": features.SIGNATURE_IMAGES, "inputs": images.tolist()},
    )
    got["rest uint8 columnar"] = r.json()["outputs"][features.OUTPUT_PROBABILITIES]
    r = requests.post(
        model_url,
        timeout=120,
        json={
            "signature_name": features.SIGNATURE_IMAGE_BYTES,
            "instances": [b64(png(i)) for i in images],
        },
    )
    got["rest b64 png rows"] = [p[features.OUTPUT_PROBABILITIES] for p in r.json()["predictions"]]
    r = requests.post(
        model_url,
        timeout=120,
        json={"instances": [{features.INPUT_EXAMPLES: b64(image_example(i))} for i in images]},
    )
    got["rest b64 tf.Example"] = [p[features.OUTPUT_PROBABILITIES] for p in r.json()["predictions"]]
    got["grpc uint8"] = outputs(
        client.predict(
            configs.MODEL_NAME, {features.INPUT_IMAGES: images}, signature=features.SIGNATURE_IMAGES
        )
    )[features.OUTPUT_PROBABILITIES]
    got["grpc png bytes"] = outputs(
        client.predict(
            configs.MODEL_NAME,
            {features.INPUT_IMAGE_BYTES: np.array([png(i) for i in images], dtype=object)},
            signature=features.SIGNATURE_IMAGE_BYTES,
        )
    )[features.OUTPUT_PROBABILITIES]
    client.close()
    for how, value in got.items():
        np.testing.assert_array_equal(np.asarray(value, np.float32), probs, err_msg=how)
