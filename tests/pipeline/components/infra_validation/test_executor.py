"""InfraValidator: the candidate must load in the model server and answer real requests.

Every validation here starts the real server (``python -m serving.cli``) as a child
process, as the pipeline does. The negative models load in TensorFlow (the Evaluator would
take them) but fail in the server; they must come out not blessed, with the reason, and the
Pusher must refuse them. The pipeline-made model must come out blessed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tfx.components.util import model_utils
from tfx.proto import infra_validator_pb2
from tfx.types import standard_component_specs

from models import features
from models.dataset import CIFAR10
from pipeline import configs
from pipeline.components.atomic_pusher import AtomicPusherExecutor
from pipeline.components.infra_validation import process_runner
from pipeline.components.infra_validation.cli import validate
from pipeline.components.infra_validation.executor import InfraValidatorExecutor
from pipeline.components.infra_validation.result import (
    BLESSED_MARKER,
    BLESSED_PROPERTY,
    NOT_BLESSED_MARKER,
    REASON_PROPERTY,
    InfraValidationResult,
    read_infra_validation,
)
from pipeline.components.infra_validation.specs import DEFAULT_NUM_EXAMPLES, LOCAL_PROCESS
from serving import defaults as serving_defaults

NUM_TEST_EXAMPLES = DEFAULT_NUM_EXAMPLES  # one request each


def write_examples(root: Path, count: int = NUM_TEST_EXAMPLES) -> Path:
    """An ExampleGen-style ``examples`` artifact dir: gzipped tf.Examples in ``Split-test``,
    with the pipeline's raw features (PNG ``image_raw``, int64 ``label``)."""
    split = root / "Split-test"
    split.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(
        str(split / "data_tfrecord-00000-of-00001.gz"), options="GZIP"
    ) as writer:
        for i in range(count):
            png = tf.io.encode_png(rng.integers(0, 256, CIFAR10.image_shape, np.uint8))
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        features.IMAGE_KEY: tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[png.numpy()])
                        ),
                        features.LABEL_KEY: tf.train.Feature(
                            int64_list=tf.train.Int64List(value=[i % CIFAR10.num_classes])
                        ),
                    }
                )
            )
            writer.write(example.SerializeToString())
    return root


class TinyModel(tf.Module):
    """A serving signature over serialized tf.Examples, like the pipeline's ``serving_default``.

    ``feature`` is what it parses: the pipeline's ``image_raw`` (works), or a feature the
    examples do not have (a training/serving skew the server only finds at request time)."""

    def __init__(self, feature: str) -> None:
        super().__init__()
        self.scale = tf.Variable(1.0)
        self.feature = feature

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_EXAMPLES)])
    def serve(self, examples):
        if self.feature == features.IMAGE_KEY:
            parsed = tf.io.parse_example(
                examples, {self.feature: tf.io.FixedLenFeature([], tf.string)}
            )
            images = tf.map_fn(
                lambda b: tf.io.decode_png(b, channels=3),
                parsed[self.feature],
                fn_output_signature=tf.uint8,
            )
            scores = tf.reduce_mean(tf.cast(images, tf.float32), axis=[1, 2])[:, :1]
        else:
            parsed = tf.io.parse_example(
                examples, {self.feature: tf.io.FixedLenFeature([3072], tf.float32)}
            )
            scores = parsed[self.feature][:, :1]
        return {
            features.OUTPUT_PROBABILITIES: tf.nn.softmax(
                tf.tile(scores, [1, CIFAR10.num_classes]) * self.scale
            )
        }


def save_model(artifact_dir: Path, feature: str) -> Path:
    """A Trainer-style ``model`` artifact dir (``Format-Serving/``); checks it loads in TF."""
    serving_dir = artifact_dir / "Format-Serving"
    module = TinyModel(feature)
    tf.saved_model.save(
        module, str(serving_dir), signatures={features.SIGNATURE_EXAMPLES: module.serve}
    )
    loaded = tf.saved_model.load(str(serving_dir))  # the Evaluator/TensorFlow would load it
    assert features.SIGNATURE_EXAMPLES in loaded.signatures
    return artifact_dir


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory) -> Path:
    return write_examples(tmp_path_factory.mktemp("examples"))


def result_of(blessing) -> InfraValidationResult:
    result = read_infra_validation(blessing.uri)
    assert result is not None
    return result


def assert_server_stopped(result: InfraValidationResult) -> None:
    pids = [a["server_pid"] for a in result.attempts]
    assert pids and all(pids)
    for pid in pids:  # the child was stopped and reaped: its pid is gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def pusher_would_push(blessing) -> bool:
    """What the pipeline's Pusher decides from this InfraBlessing alone."""
    return AtomicPusherExecutor().CheckBlessing(
        {standard_component_specs.INFRA_BLESSING_KEY: [blessing]}
    )


# --- the executor on its own -------------------------------------------------------------


def test_spec_without_a_serving_binary_is_refused():
    """TFX would validate against zero binaries and bless; we refuse the vacuous pass."""
    executor = InfraValidatorExecutor()
    with pytest.raises(ValueError, match="no tags or digests"):
        executor._Do(
            model=None,
            examples=None,
            blessing=None,
            serving_spec=infra_validator_pb2.ServingSpec(
                tensorflow_serving=infra_validator_pb2.TensorFlowServing()
            ),
            validation_spec=infra_validator_pb2.ValidationSpec(),
            request_spec=None,
        )


# --- real validations against the local model server ------------------------------------


def test_model_that_loads_and_answers_is_blessed(tmp_path, examples_dir):
    model = save_model(tmp_path / "model", features.IMAGE_KEY)
    blessing = validate(str(model), str(examples_dir), str(tmp_path / "blessing"))

    assert blessing.get_int_custom_property(BLESSED_PROPERTY) == 1
    assert model_utils.is_infra_validated(blessing) and pusher_would_push(blessing)
    assert (Path(blessing.uri) / BLESSED_MARKER).is_file()
    result = result_of(blessing)
    assert result.blessed and result.reason is None
    assert result.describe() == "infra-blessed: True (local_process, 10 requests answered)"
    assert result.platform == LOCAL_PROCESS and result.mode == "LOAD_AND_QUERY"
    # every example of the split became a request, and every one was answered
    assert result.requests_sent == NUM_TEST_EXAMPLES
    assert result.answered == {features.SIGNATURE_EXAMPLES: [features.OUTPUT_PROBABILITIES]}
    assert len(result.attempts) == 1 and result.attempts[0]["ok"]
    assert_server_stopped(result)


def test_model_whose_signature_fails_in_the_server_is_not_blessed(tmp_path, examples_dir):
    """Loads in TensorFlow, loads in the server, but its serving signature cannot parse the
    examples clients send: the first request fails, the model is rejected, not retried."""
    model = save_model(tmp_path / "model", "pixels")
    blessing = validate(str(model), str(examples_dir), str(tmp_path / "blessing"), num_tries=3)

    assert blessing.get_int_custom_property(BLESSED_PROPERTY) == 0
    assert not model_utils.is_infra_validated(blessing) and not pusher_would_push(blessing)
    assert (Path(blessing.uri) / NOT_BLESSED_MARKER).is_file()
    result = result_of(blessing)
    assert not result.blessed and result.requests_sent == 0
    # the reason names the request, the signature, the server's status code and its message
    assert result.reason.startswith(
        f"request 1/{NUM_TEST_EXAMPLES} (PredictRequest on signature 'serving_default') "
        "failed: INVALID_ARGUMENT:"
    )
    assert "pixels" in result.reason
    assert blessing.get_string_custom_property(REASON_PROPERTY) == result.reason
    assert result.describe() == f"infra-blessed: False: {result.reason}"
    assert len(result.attempts) == 1  # a rejected model is final: no 3 server restarts
    assert result.attempts[0]["load_seconds"] is not None  # it did load
    assert_server_stopped(result)


def test_model_the_server_cannot_load_is_not_blessed_with_the_servers_words(tmp_path, examples_dir):
    """The SavedModel graph parses (requests can be built) but its variables are gone: the
    server exits at start-up; its own error line is the reason, its log is kept."""
    model = save_model(tmp_path / "model", features.IMAGE_KEY)
    for f in (model / "Format-Serving" / "variables").iterdir():
        f.unlink()
    blessing = validate(str(model), str(examples_dir), str(tmp_path / "blessing"), num_tries=3)

    assert not model_utils.is_infra_validated(blessing) and not pusher_would_push(blessing)
    result = result_of(blessing)
    assert result.reason.startswith("the model server exited with status 255 before serving: ")
    assert "Failed to start server. Error: UNKNOWN:" in result.reason
    assert len(result.attempts) == 1
    assert any("Failed to start server" in line for line in result.attempts[0]["server_log_tail"])
    assert_server_stopped(result)


def test_infrastructure_failure_is_retried_then_not_blessed(tmp_path, examples_dir, monkeypatch):
    """A server that cannot even start says nothing about the model: TFX's retries apply
    (here: the server module is missing, so each attempt's process exits at once)."""
    monkeypatch.setattr(process_runner, "SERVER_MODULE", "no_such_server_module")
    model = save_model(tmp_path / "model", features.IMAGE_KEY)
    blessing = validate(str(model), str(examples_dir), str(tmp_path / "blessing"), num_tries=2)
    result = result_of(blessing)
    assert not pusher_would_push(blessing)
    assert [a["ok"] for a in result.attempts] == [False, False]
    assert result.reason.startswith("the model server exited with status 1 before serving: ")
    assert "No module named no_such_server_module" in result.reason
    assert_server_stopped(result)


def test_model_without_the_requested_signature_is_not_blessed(tmp_path, examples_dir):
    """No ``serving_default``: no request can be built, so no server is started."""
    module = TinyModel(features.IMAGE_KEY)
    tf.saved_model.save(
        module, str(tmp_path / "model" / "Format-Serving"), signatures={"other": module.serve}
    )
    blessing = validate(str(tmp_path / "model"), str(examples_dir), str(tmp_path / "blessing"))
    result = result_of(blessing)
    assert not pusher_would_push(blessing)
    assert result.reason.startswith("cannot build requests from the examples")
    assert "serving_default" in result.reason and result.attempts == []


def test_docker_platform_goes_to_the_stock_runner(tmp_path, examples_dir):
    """``local_docker`` runs TFX's LocalDockerRunner; without a Docker engine (as here) it
    cannot start, which is a failed attempt, not a blessing."""
    model = save_model(tmp_path / "model", features.IMAGE_KEY)
    blessing = validate(
        str(model),
        str(examples_dir),
        str(tmp_path / "blessing"),
        platform="local_docker",
        num_tries=1,
    )
    result = result_of(blessing)
    assert not result.blessed and result.platform == "local_docker"
    assert result.server == serving_defaults.SERVING_IMAGE
    assert result.reason.startswith("DockerException:")  # docker-py found no engine
    assert result.attempts[0]["server_pid"] is None


# --- the pipeline-made model --------------------------------------------------------------


def only_artifact(directory: Path) -> Path:
    found = sorted(p for p in directory.iterdir() if p.name.isdigit())
    assert found, f"no artifact under {directory}"
    return found[-1]


@pytest.mark.slow
def test_pipeline_made_model_is_blessed(first_pipeline_run, tmp_path):
    """The Trainer's model and ExampleGen's examples from a real pipeline run: the server
    loads it and answers ``serving_default`` requests built from the test split."""
    assert first_pipeline_run.exit_code == 0
    root = configs.pipeline_root(first_pipeline_run.output_root)
    model = only_artifact(root / "Trainer" / "model")
    examples = only_artifact(root / "ImportExampleGen" / "examples")
    blessing = validate(str(model), str(examples), str(tmp_path / "blessing"))

    result = result_of(blessing)
    assert result.blessed, result.reason
    assert pusher_would_push(blessing)
    assert result.requests_sent == DEFAULT_NUM_EXAMPLES
    assert result.answered[features.SIGNATURE_EXAMPLES] == sorted(
        [features.OUTPUT_CLASS_IDS, features.OUTPUT_CLASSES, features.OUTPUT_PROBABILITIES]
    )
    assert_server_stopped(result)
    print(
        f"\ninfra validation of the pipeline-made model: {result.seconds:.1f}s "
        f"(load {result.attempts[0]['load_seconds']:.1f}s, "
        f"{result.requests_sent} requests {result.attempts[0]['query_seconds']:.2f}s)"
    )
