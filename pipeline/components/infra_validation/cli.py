"""Run the executor on one model by hand (measuring, debugging):
``python -m pipeline.components.infra_validation --model M --examples E``."""

from __future__ import annotations

import argparse
import json
import logging as std_logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.proto import infra_validator_pb2
from tfx.types import artifact_utils, standard_artifacts

from pipeline.components.infra_validation.executor import InfraValidatorExecutor
from pipeline.components.infra_validation.result import read_infra_validation
from pipeline.components.infra_validation.specs import (
    DEFAULT_MAX_LOADING_SECONDS,
    DEFAULT_NUM_EXAMPLES,
    DEFAULT_NUM_TRIES,
    LOCAL_PROCESS,
    PLATFORMS,
    request_spec,
    serving_spec,
)


def validate(
    model_uri: str,
    examples_uri: str,
    output_uri: str,
    *,
    platform: str = LOCAL_PROCESS,
    num_examples: int = DEFAULT_NUM_EXAMPLES,
    num_tries: int = DEFAULT_NUM_TRIES,
    split_names: Sequence[str] | None = None,
) -> types.Artifact:
    """Run the executor outside a pipeline on a Trainer ``model`` artifact directory (with
    ``Format-Serving/``) and an ExampleGen ``examples`` directory (``Split-*/``); returns the
    InfraBlessing artifact as the Pusher would receive it (read it with
    :func:`read_infra_validation`)."""
    model = standard_artifacts.Model()
    model.uri = model_uri
    examples = standard_artifacts.Examples()
    examples.uri = examples_uri
    examples.split_names = artifact_utils.encode_split_names(
        list(
            split_names
            or sorted(p.name.removeprefix("Split-") for p in Path(examples_uri).glob("Split-*"))
        )
    )
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = output_uri
    os.makedirs(output_uri, exist_ok=True)
    spec = request_spec(num_examples)
    exec_properties = {
        "serving_spec": json.dumps(_to_json(serving_spec(platform))),
        "request_spec": json.dumps(_to_json(spec)),
        "validation_spec": json.dumps(
            _to_json(
                infra_validator_pb2.ValidationSpec(
                    max_loading_time_seconds=DEFAULT_MAX_LOADING_SECONDS, num_tries=num_tries
                )
            )
        ),
    }
    with tempfile.TemporaryDirectory(prefix="infra-validation-") as tmp:
        executor = InfraValidatorExecutor(
            base_executor.BaseExecutor.Context(tmp_dir=tmp, unique_id="manual")
        )
        executor.Do(
            {"model": [model], "examples": [examples]}, {"blessing": [blessing]}, exec_properties
        )
    return blessing


def _to_json(message: Any) -> Any:
    from google.protobuf import json_format

    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.components.infra_validation --model M --examples E``: validate one
    model as the pipeline would, print the verdict and the seconds it took."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", required=True, help="Trainer model artifact directory")
    parser.add_argument("--examples", required=True, help="ExampleGen examples directory")
    parser.add_argument("--output", help="InfraBlessing directory (default: a temp dir)")
    parser.add_argument("--platform", default=LOCAL_PROCESS, choices=PLATFORMS)
    parser.add_argument("--num-examples", type=int, default=DEFAULT_NUM_EXAMPLES)
    args = parser.parse_args(argv)
    std_logging.basicConfig(level=std_logging.WARNING)
    output = args.output or tempfile.mkdtemp(prefix="infra-blessing-")
    started = time.monotonic()
    blessing = validate(
        args.model, args.examples, output, platform=args.platform, num_examples=args.num_examples
    )
    result = read_infra_validation(blessing.uri)
    assert result is not None, "the executor always writes its result file"
    print(json.dumps(result.__dict__, indent=2))
    print(
        f"{result.describe()}; executor {result.seconds:.1f}s, "
        f"wall {time.monotonic() - started:.1f}s (after imports); blessing at {output}"
    )
    return 0 if result.blessed else 3
