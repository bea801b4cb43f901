"""The InfraValidator node as the pipeline builds it, and the specs of each platform."""

from __future__ import annotations

import pytest
from tfx.proto import infra_validator_pb2
from tfx.utils import proto_utils

from ingest import settings as ingest_settings
from models import features
from pipeline import configs
from pipeline.components.infra_validation.component import infra_validator
from pipeline.components.infra_validation.executor import InfraValidatorExecutor
from pipeline.components.infra_validation.specs import (
    DEFAULT_NUM_EXAMPLES,
    DEFAULT_NUM_TRIES,
    serving_spec,
)
from serving import defaults as serving_defaults


def test_factory_builds_the_standard_component_with_our_executor():
    from tfx.types import Channel, standard_artifacts

    node = infra_validator(
        Channel(type=standard_artifacts.Model), Channel(type=standard_artifacts.Examples)
    )
    assert node.id == "InfraValidator"
    assert node.executor_spec.executor_class is InfraValidatorExecutor
    props = node.exec_properties  # serialized like TFX stores them
    serving = proto_utils.json_to_proto(props["serving_spec"], infra_validator_pb2.ServingSpec())
    assert serving.WhichOneof("serving_platform") is None  # = the local process
    assert serving.model_name == configs.MODEL_NAME
    assert (
        f"{serving.tensorflow_serving.image_name}:{serving.tensorflow_serving.tags[0]}"
        == serving_defaults.SERVING_IMAGE
    )
    request = proto_utils.json_to_proto(props["request_spec"], infra_validator_pb2.RequestSpec())
    validation = proto_utils.json_to_proto(
        props["validation_spec"], infra_validator_pb2.ValidationSpec()
    )
    assert validation.num_tries == DEFAULT_NUM_TRIES
    assert list(request.tensorflow_serving.signature_names) == [features.SIGNATURE_EXAMPLES]
    assert request.split_name == ingest_settings.TEST_SPLIT
    assert request.num_examples == DEFAULT_NUM_EXAMPLES
    assert node.outputs["blessing"].type_name == "InfraBlessing"


def test_docker_and_kubernetes_specs_name_the_stock_platforms():
    assert serving_spec("local_docker").WhichOneof("serving_platform") == "local_docker"
    assert serving_spec("kubernetes").WhichOneof("serving_platform") == "kubernetes"
    with pytest.raises(ValueError, match="platform must be one of"):
        serving_spec("docker")
