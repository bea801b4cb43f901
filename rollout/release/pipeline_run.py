"""The release's pipeline side: train a candidate on a new span (through
``pipeline.runner``), find the data root, and build the new version's drift reference."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ingest import settings as ingest_settings
from rollout.canary.manager import RolloutManager
from rollout.release.outcome import say


def train_and_push(args: argparse.Namespace, pipeline_args: list[str]) -> tuple[int, int | None]:
    """Run the pipeline on a new span through ``pipeline.runner`` (as beam_runner.py does:
    one line per component here, the full log in a file); (exit code, pushed version or
    None)."""
    from ingest import cifar10
    from pipeline import progress, run_config, runner, summary

    argv = ["--output-root", args.output_root, "--new-span", *pipeline_args]
    for flag, value in (
        ("--data-root", args.data_root),
        ("--limit", args.limit),
        ("--epochs", args.epochs),
        ("--accuracy-lower-bound", args.accuracy_lower_bound),
    ):
        if value is not None:
            argv += [flag, str(value)]
    say(f"pipeline: {' '.join(argv)}")
    try:
        config = run_config.parse(argv, prog="cifar10-release")
        span = runner.prepare_input(config)
    except (run_config.RunConfigError, cifar10.CifarDataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return runner.EXIT_BAD_INPUT, None
    print(
        f"input span {span.span} ({'reused' if span.reused else 'written'}): "
        + ", ".join(f"{k}={v}" for k, v in span.counts.items())
    )
    log_file = config.output_root / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with progress.captured(log_file) as tracker:
        outcome = runner.execute(config, span)
    if outcome.summary is not None:
        print(summary.format_table(outcome.summary, tracker.durations))
    if outcome.failed:
        print(f"error: the pipeline failed: {outcome.error} (log: {log_file})", file=sys.stderr)
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
    from ingest import cifar10
    from rollout.drift.reference import build_for_version

    try:
        root = data_root(args)
        test = cifar10.load_test(root)
        path = build_for_version(
            manager.paths,
            manager.model_dir,
            version,
            test.images,
            f"version {version} on {root / ingest_settings.TEST_BATCH}",
        )
        say(f"drift reference of version {version}: {path}")
    except Exception as e:  # logged; drift falls back to the pixel histogram
        say(f"warning: no drift reference for version {version}: {e}")
