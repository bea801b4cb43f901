"""The InfraValidator component (TFX's, run by this package's executor) and the factory the
pipeline calls."""

from __future__ import annotations

from tfx import types
from tfx.components import InfraValidator
from tfx.dsl.components.base import executor_spec
from tfx.proto import infra_validator_pb2

from pipeline.components.infra_validation.executor import InfraValidatorExecutor
from pipeline.components.infra_validation.specs import (
    COMPONENT_ID,
    DEFAULT_MAX_LOADING_SECONDS,
    DEFAULT_NUM_EXAMPLES,
    DEFAULT_NUM_TRIES,
    LOCAL_PROCESS,
    request_spec,
    serving_spec,
)


class LocalInfraValidator(InfraValidator):
    """The standard ``InfraValidator`` component, run by :class:`InfraValidatorExecutor`."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(InfraValidatorExecutor)


def infra_validator(
    model: types.BaseChannel,
    examples: types.BaseChannel,
    *,
    platform: str = LOCAL_PROCESS,
    num_examples: int = DEFAULT_NUM_EXAMPLES,
    num_tries: int = DEFAULT_NUM_TRIES,
    max_loading_time_seconds: int = DEFAULT_MAX_LOADING_SECONDS,
    make_warmup: bool = False,
) -> LocalInfraValidator:
    """The InfraValidator node (id ``InfraValidator``); Pusher takes ``outputs['blessing']``
    as ``infra_blessing``.

    ``platform``: ``local_process`` (default, the project's server as a child process),
    ``local_docker`` or ``kubernetes`` (TFX's runners with ``serving.defaults.SERVING_IMAGE``)."""
    spec = request_spec(num_examples)
    spec.make_warmup = make_warmup
    return LocalInfraValidator(
        model=model,
        examples=examples,
        serving_spec=serving_spec(platform),
        request_spec=spec,
        validation_spec=infra_validator_pb2.ValidationSpec(
            max_loading_time_seconds=max_loading_time_seconds, num_tries=num_tries
        ),
    ).with_id(COMPONENT_ID)
