"""Which model server the candidate is validated in, and with which requests: the platform
names, the defaults, and the ``ServingSpec`` / ``RequestSpec`` protos the pipeline passes."""

from __future__ import annotations

from tfx.proto import infra_validator_pb2

from ingest import settings as ingest_settings
from models import features
from pipeline import configs
from serving import defaults as serving_defaults

COMPONENT_ID = "InfraValidator"
LOCAL_PROCESS = "local_process"  # this package's platform: serving_spec.serving_platform unset
PLATFORMS = (LOCAL_PROCESS, "local_docker", "kubernetes")

DEFAULT_NUM_EXAMPLES = 10  # one request per example, from the test split
DEFAULT_NUM_TRIES = 3  # infrastructure retries; model failures are never retried
DEFAULT_MAX_LOADING_SECONDS = 300  # TFX's default; the real model loads in ~5 s here


def serving_spec(
    platform: str = LOCAL_PROCESS,
    *,
    model_name: str = configs.MODEL_NAME,
    image: str = serving_defaults.SERVING_IMAGE,
) -> infra_validator_pb2.ServingSpec:
    """The ``ServingSpec`` for ``platform``; the image (``tensorflow/serving:2.16.1``) is the
    one production runs, and what Docker/Kubernetes start. The local process ignores it."""
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    name, _, tag = image.rpartition(":")
    spec = infra_validator_pb2.ServingSpec(
        tensorflow_serving=infra_validator_pb2.TensorFlowServing(image_name=name, tags=[tag]),
        model_name=model_name,
    )
    if platform == "local_docker":
        spec.local_docker.SetInParent()
    elif platform == "kubernetes":
        spec.kubernetes.SetInParent()
    return spec


def request_spec(
    num_examples: int = DEFAULT_NUM_EXAMPLES, split: str = ingest_settings.TEST_SPLIT
) -> infra_validator_pb2.RequestSpec:
    """Predict requests on ``serving_default`` (serialized tf.Examples, input ``examples``),
    one per example of ``split``."""
    return infra_validator_pb2.RequestSpec(
        tensorflow_serving=infra_validator_pb2.TensorFlowServingRequestSpec(
            signature_names=[features.SIGNATURE_EXAMPLES]
        ),
        split_name=split,
        num_examples=num_examples,
    )
