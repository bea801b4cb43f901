"""The release's pipeline side: train a candidate on a new span (through
``pipeline.runner``), find the data root, and build the new version's drift reference."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline import configs, run_config
from rollout.canary.manager import RolloutManager
from rollout.release.outcome import say


def release_run_config(args: argparse.Namespace, pipeline_args: list[str]) -> run_config.RunConfig:
    """The release's pipeline run: the run flags given after ``--`` (parsed once, by the run
    flags' one parser), with the release's own settings applied by
    :meth:`RunConfig.with_changes`: its output root, a new span, and the data root, image
    limit, epochs and accuracy bound when given. Raises ``RunConfigError``."""
    changes: dict[str, object] = {"output_root": args.output_root, "new_span": True}
    for name in ("data_root", "limit", "epochs", "accuracy_lower_bound"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    base = run_config.parse(pipeline_args, prog="cifar10-release --")
    changes.update(_names(base, args))
    return base.with_changes(**changes)


def _names(base: run_config.RunConfig, args: argparse.Namespace) -> dict[str, object]:
    """The model name (and the pipeline name that follows it) for the release's data root:
    ``--model-name``, else the pipeline flags' own choice, else the pipeline's rule
    (``run_config.default_model_name``) on the data root the release runs on."""
    env = dict(os.environ)
    chosen = getattr(args, "model_name", None)
    if not chosen:
        if base.model_name != run_config.default_model_name(base.data_root, base.data_layout, env):
            return {}  # the pipeline flags named the model
        data_root = Path(args.data_root) if args.data_root else base.data_root
        chosen = run_config.default_model_name(data_root, base.data_layout, env)
    names: dict[str, object] = {"model_name": chosen}
    if base.pipeline_name == base.model_name:  # the pipeline name follows the model name
        names["pipeline_name"] = chosen
    return names


def release_model_name(args: argparse.Namespace, pipeline_args: list[str]) -> str:
    """The served model the release rolls out: its pipeline run's ``model_name`` (cifar10 for
    CIFAR-10, the data folder's name for an image folder, or ``--model-name``)."""
    try:
        return release_run_config(args, pipeline_args).model_name
    except run_config.RunConfigError:  # reported when the pipeline runs
        return getattr(args, "model_name", None) or configs.MODEL_NAME


def train_and_push(args: argparse.Namespace, pipeline_args: list[str]) -> tuple[int, int | None]:
    """Run the pipeline on a new span through the one run path (``pipeline.runner.run``, as
    beam_runner.py: one line per component, the summary table, the run's report, the full
    log in a file); (exit code, pushed version or None)."""
    import report
    from pipeline import runner

    try:
        config = release_run_config(args, pipeline_args)
    except run_config.RunConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return runner.EXIT_BAD_INPUT, None
    say(
        f"pipeline: a new span, output root {config.output_root}, "
        f"{config.hparams.epochs} epoch(s)"
        + (f", first {config.limit} images" if config.limit else "")
    )
    outcome = runner.run(config, write_report=report.write_run_report)
    if outcome.failed:
        return outcome.exit_code, None
    result = outcome.summary
    if result is None or not result.blessed:
        say("the new model was not blessed by offline evaluation: nothing to roll out")
        return 0, None
    if not result.pushed or not result.pushed_destination:
        say("blessed, but identical to a served version: nothing to roll out")
        return 0, None
    version = int(Path(result.pushed_destination).name)
    accuracy = "n/a" if result.accuracy is None else f"{result.accuracy:.4f}"
    say(f"blessed (test accuracy {accuracy}) and pushed as version {version}")
    return 0, version


def data_root(args: argparse.Namespace) -> Path:
    """--data-root, else $CIFAR10_DATA_ROOT, else the pipeline's default (one rule for the
    pipeline, the load generator and the drift reference)."""
    from ingest import cifar10

    return cifar10.resolve_data_root(args.data_root, dict(os.environ))


def build_drift_reference(args: argparse.Namespace, manager: RolloutManager, version: int) -> None:
    """The drift-signal reference of ``version`` (test split through the new model), so the
    router can compare served outputs with it. Best-effort: monitoring, not the release,
    depends on it."""
    from models.dataset import from_model
    from rollout.drift.reference import build_for_version, reference_images

    try:
        root = data_root(args)
        images = reference_images(root, from_model(manager.model_dir / str(version)))
        path = build_for_version(
            manager.paths, manager.model_dir, version, images, f"version {version} on {root}"
        )
        say(f"drift reference of version {version}: {path}")
    except Exception as e:  # logged; drift falls back to the pixel histogram
        say(f"warning: no drift reference for version {version}: {e}")
