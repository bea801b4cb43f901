"""Compile the CIFAR-10 pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines.

    python kubeflow_runner.py [--output FILE] [--image IMAGE] [--pipeline-root URI] [run flags]

The same ``create_pipeline`` the Beam and Airflow runners build (``pipeline.runner``),
compiled by TFX's ``KubeflowV2DagRunner`` into a PipelineJob JSON that KFP 2 or Vertex AI
Pipelines runs, every step in the image of ``deploy/airflow/Dockerfile``. Nothing is run here.

Two nodes of the pipeline have no KFP v2 form in TFX 1.16, so the compiled pipeline differs:

- InfraValidator: TFX's v2 step builder refuses it (``NotImplementedError``); the run flag
  ``--skip-infra-validation`` is implied.
- the Evaluator's baseline resolver: the v2 compiler knows only TFX's two stock strategies,
  so the baseline is TFX's latest blessed model (the candidate is never blessed before its
  own evaluation, so only an unchanged re-run can differ: it compares the model with itself).

Paths of this checkout in the spec (the curated schema, Beam's ``--setup_file``) become the
image's (``--image-repo-root``). Exit codes: 0 written, 2 bad flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

from airflow_dags.cifar10_airflow_settings import PIPELINE_IMAGE  # noqa: E402
from pipeline import configs, run_config  # noqa: E402

# WORKDIR of deploy/airflow/Dockerfile: where the image keeps this repository.
IMAGE_REPO_ROOT = "/opt/cifar10"
# CIFAR10_OUTPUT_ROOT of the image: a volume every step mounts (a PVC on KFP; on Vertex a
# Cloud Storage bucket through its /gcs/<bucket> FUSE mount).
IMAGE_OUTPUT_ROOT = "/data/outputs"
DEFAULT_OUTPUT = configs.REPO_ROOT / "outputs" / "kubeflow" / f"{configs.PIPELINE_NAME}.json"


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, run_config.RunConfig]:
    flags, beam = run_config.split_beam_args(list(sys.argv[1:] if argv is None else argv))
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="PipelineJob JSON to write")
    p.add_argument("--image", default=PIPELINE_IMAGE, help="image every step runs in")
    p.add_argument(
        "--pipeline-root",
        help="where KFP/Vertex keep the run's artifacts, e.g. gs://BUCKET/cifar10 "
        "(default: the pipeline root under --output-root)",
    )
    p.add_argument(
        "--image-repo-root",
        default=IMAGE_REPO_ROOT,
        help="this repository's folder in the image (replaces the checkout's paths)",
    )
    run_config.add_arguments(p)
    p.set_defaults(output_root=IMAGE_OUTPUT_ROOT)
    args = p.parse_args(flags)
    try:
        config = run_config.from_arguments(args, beam)
    except run_config.RunConfigError as e:  # one line naming flag, value and range, as beam_runner
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.pipeline_root is not None and not args.pipeline_root.strip():
        p.error("--pipeline-root must not be empty")
    return args, config.with_changes(infra_validation=False)


def compile_pipeline(
    config: run_config.RunConfig,
    image: str = PIPELINE_IMAGE,
    pipeline_root: str | None = None,
    image_repo_root: str = IMAGE_REPO_ROOT,
) -> dict[str, Any]:
    """The PipelineJob (as JSON-ready dict) for ``config``; InfraValidator must be off."""
    try:
        from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kfp_v2
    except ModuleNotFoundError as e:
        if e.name is None or not e.name.startswith("kfp"):
            raise
        raise MissingExtraError(
            f"TFX's Kubeflow v2 compiler needs kfp-pipeline-spec ({e}): install the project's "
            "'kubeflow' extra (scripts/bootstrap.sh kubeflow)"
        ) from e

    from pipeline import runner

    if config.infra_validation:
        raise ValueError("TFX's Kubeflow v2 compiler has no InfraValidator: turn it off")
    tfx_pipeline = runner.build_pipeline(config)
    _use_stock_baseline_strategy(tfx_pipeline)
    if pipeline_root is not None:
        tfx_pipeline.pipeline_info.pipeline_root = pipeline_root
    compiler = kfp_v2.KubeflowV2DagRunner(
        config=kfp_v2.KubeflowV2DagRunnerConfig(default_image=image)
    )
    job = compiler.run(tfx_pipeline, write_out=False)
    text = json.dumps(job).replace(str(configs.REPO_ROOT), image_repo_root.rstrip("/"))
    return dict(json.loads(text))


def _use_stock_baseline_strategy(tfx_pipeline: Any) -> None:
    """Swap the Evaluator's baseline resolver to TFX's ``LatestBlessedModelStrategy``.

    The v2 compiler turns only TFX's stock strategies into KFP resolver tasks (it raises a
    ``TypeError`` on any other). The node keeps its id and output keys, so the Evaluator's
    input stays wired to it; its ``candidate`` input (the stock strategy takes a model and
    a blessing only) is dropped."""
    from tfx.dsl.components.common.resolver import Resolver
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
        LatestBlessedModelStrategy,
    )

    from pipeline.components import baseline_resolver

    for node in tfx_pipeline.components:
        if isinstance(node, Resolver) and node.id == baseline_resolver.RESOLVER_ID:
            kept = {
                k: c for k, c in node.raw_inputs.items() if k != baseline_resolver.CANDIDATE_KEY
            }
            # No public setter: the compiler reads these three attributes.
            node._strategy_class = LatestBlessedModelStrategy
            node._raw_inputs = dict(kept)
            node._input_dict = dict(kept)
            return
    raise ValueError(f"no {baseline_resolver.RESOLVER_ID} node in the pipeline")


class MissingExtraError(RuntimeError):
    """An optional dependency of this command is not installed."""


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    try:
        job = compile_pipeline(config, args.image, args.pipeline_root, args.image_repo_root)
    except MissingExtraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(job, indent=2, sort_keys=True) + "\n")
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    print(
        f"{args.output}: {len(tasks)} tasks, image {args.image}, root "
        f"{job['runtimeConfig']['gcsOutputDirectory']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
