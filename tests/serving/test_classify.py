"""gRPC Classify on a model whose signature is a classification signature."""

from __future__ import annotations

import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2

from tests.serving.helpers import GrpcClient
from tests.serving.tiny_models import push


def _example(x: float) -> tf.train.Example:
    return tf.train.Example(
        features=tf.train.Features(
            feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
        )
    )


@pytest.fixture
def client(classify_model, tmp_path, start_server):
    push(classify_model, tmp_path / "scorer", 7)
    server = start_server(model_name="scorer", model_base_path=tmp_path / "scorer")
    c = GrpcClient(server.grpc_target)
    yield c
    c.close()


def test_classify_returns_classes_and_scores(client):
    req = client.spec(classification_pb2.ClassificationRequest(), "scorer")
    for x in (0.25, 0.9):
        req.input.example_list.examples.append(_example(x))
    resp = client.predict_stub.Classify(req, timeout=30)
    assert resp.model_spec.version.value == 7
    got = [
        [(c.label, round(c.score, 4)) for c in row.classes] for row in resp.result.classifications
    ]
    assert got == [[("pos", 0.25), ("neg", 0.75)], [("pos", 0.9), ("neg", 0.1)]]


def test_classify_merges_the_context(client):
    req = client.spec(classification_pb2.ClassificationRequest(), "scorer")
    lwc = req.input.example_list_with_context
    lwc.context.CopyFrom(_example(0.5))
    lwc.examples.add()  # takes x from the context
    lwc.examples.append(_example(0.2))  # overrides it
    resp = client.predict_stub.Classify(req, timeout=30)
    assert [round(r.classes[0].score, 4) for r in resp.result.classifications] == [0.5, 0.2]
