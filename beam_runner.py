"""Run the CIFAR-10 pipeline locally with Apache Beam (BeamDagRunner or LocalDagRunner).

    python beam_runner.py [--data-root DIR] [--epochs N] [-- <beam args>]

Finds the data (flag, $CIFAR10_DATA_ROOT, ../shared subset, or the official download),
converts it into an input span, runs the pipeline with per-component progress and prints a
summary. Exit codes: 0 pushed or cleanly not blessed, 2 bad input data, 1 pipeline failure.
Anything after ``--`` goes to Beam untouched (e.g. ``--runner=FlinkRunner ...``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# google-cloud libraries warn about Python 3.10 at import; TFX 1.16 requires 3.10.
warnings.filterwarnings("ignore", category=FutureWarning)

from pipeline import configs  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, beam_extra = argv[:split], argv[split + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-root",
                   help=f"cifar-10-batches-py folder (or ${configs.DATA_ROOT_ENV})")
    p.add_argument("--output-root", default=str(configs.DEFAULT_OUTPUT_ROOT),
                   help=f"spans, pipeline artifacts and models (${configs.OUTPUT_ROOT_ENV})")
    p.add_argument("--serving-root",
                   help="TF Serving model base path (default <output-root>/serving)")
    p.add_argument("--limit", type=int, help="use only the first N train and N test images")
    p.add_argument("--span", type=int, help="run on this input span instead of the latest")
    p.add_argument("--new-span", action="store_true",
                   help="write a new span even if the data did not change")
    p.add_argument("--epochs", type=int, default=configs.TRAIN_EPOCHS)
    p.add_argument("--batch-size", type=int, default=configs.BATCH_SIZE)
    p.add_argument("--learning-rate", type=float, default=configs.LEARNING_RATE)
    p.add_argument("--train-steps", type=int, help="cap on training steps (default: full epochs)")
    p.add_argument("--accuracy-lower-bound", type=float, default=configs.ACCURACY_LOWER_BOUND)
    p.add_argument("--accuracy-max-drop", type=float, default=configs.ACCURACY_MAX_DROP)
    p.add_argument("--infer-schema", action="store_true",
                   help="first run: infer the schema with SchemaGen instead of schema/schema.pbtxt")
    p.add_argument("--orchestrator", choices=("beam", "local"), default="beam",
                   help="BeamDagRunner or LocalDagRunner")
    p.add_argument("--beam-mode", default=configs.DEFAULT_DIRECT_RUNNING_MODE,
                   choices=("in_memory", "multi_threading", "multi_processing"),
                   help="DirectRunner running mode")
    p.add_argument("--beam-workers", type=int, default=configs.DEFAULT_DIRECT_NUM_WORKERS)
    p.add_argument("--no-cache", action="store_true", help="disable TFX caching")
    args = p.parse_args(argv)
    args.beam_args = configs.beam_pipeline_args(args.beam_mode, args.beam_workers, beam_extra)
    return args


def hparams(args: argparse.Namespace) -> dict:
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "dropout_rate": configs.DROPOUT_RATE,
        "early_stopping_patience": configs.EARLY_STOPPING_PATIENCE,
        "seed": configs.TRAIN_SEED,
    }


def prepare_input(args: argparse.Namespace):
    """Find the raw data and write (or reuse) the input span; raises ``CifarDataError``.

    Shared by every runner (this one and the Airflow DAG's first task).
    """
    from ingest import cifar10, spans

    data_root = cifar10.resolve_data_root(args.data_root, dict(os.environ))
    print(f"data root: {data_root}")
    return spans.prepare_span(data_root, configs.examples_root(output_root(args)),
                              limit=args.limit, force_new=args.new_span)


def output_root(args: argparse.Namespace) -> Path:
    return Path(args.output_root).resolve()


def serving_model_dir(args: argparse.Namespace) -> Path:
    """``<serving_root>/<MODEL_NAME>``: the Pusher's base directory."""
    root = Path(args.serving_root or configs.serving_root(output_root(args))).resolve()
    return root / configs.MODEL_NAME


def build_pipeline(args: argparse.Namespace, metadata_connection_config=None):
    """The pipeline for these flags; every runner (Beam, Local, Airflow) builds it here."""
    from pipeline.pipeline import create_pipeline

    root = output_root(args)
    if metadata_connection_config is None:
        from tfx.orchestration import metadata

        metadata_connection_config = metadata.sqlite_metadata_connection_config(
            str(configs.metadata_path(root)))
    return create_pipeline(
        pipeline_name=configs.PIPELINE_NAME,
        pipeline_root=str(configs.pipeline_root(root)),
        examples_root=str(configs.examples_root(root)),
        serving_model_dir=str(serving_model_dir(args)),
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=args.beam_args,
        schema_path=None if args.infer_schema else str(configs.SCHEMA_PATH),
        span=args.span,
        train_hparams=hparams(args),
        train_steps=args.train_steps,
        accuracy_lower_bound=args.accuracy_lower_bound,
        accuracy_max_drop=args.accuracy_max_drop,
        enable_cache=not args.no_cache,
    )


def run(args: argparse.Namespace) -> int:
    """Prepare the span, run the pipeline, print the summary; returns the exit code."""
    from ingest import cifar10

    try:
        span = prepare_input(args)
    except cifar10.CifarDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"input span {span.span} ({'reused' if span.reused else 'written'}): "
          + ", ".join(f"{k}={v}" for k, v in span.counts.items()))

    from pipeline import progress, summary

    root = output_root(args)
    log_file = root / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    tracker = progress.install(log_file)
    print(f"pipeline root: {configs.pipeline_root(root)}  (full log: {log_file})")
    tfx_pipeline = build_pipeline(args)
    started = time.monotonic()
    failure = None
    try:
        _runner_class(args.orchestrator)().run(tfx_pipeline)
    except Exception as e:  # noqa: BLE001 - any component failure ends the run with a message
        failure = e
    result = summary.read_run(configs.metadata_path(root))
    print()
    print(summary.format_table(result, tracker.durations))
    print(f"total: {time.monotonic() - started:.1f}s")
    _write_report(root, failure)
    if failure is not None:
        print(f"\nerror: the pipeline failed: {_root_message(failure)}", file=sys.stderr)
        print("nothing was pushed; previously pushed models are untouched", file=sys.stderr)
        return 1
    return 0


def _write_report(root: Path, failure: BaseException | None) -> None:
    """The run's HTML report; a report that cannot be written never fails the run."""
    try:
        from tfx.orchestration import metadata

        import report

        path = report.write_run_report(
            metadata.sqlite_metadata_connection_config(str(configs.metadata_path(root))), root,
            failure=None if failure is None else _root_message(failure))
        print(f"report: {path}")
    except Exception as e:  # noqa: BLE001 - the run's outcome stands without its report
        print(f"warning: could not write the run report: {e}", file=sys.stderr)


def _runner_class(name: str):
    """BeamDagRunner (the default) or TFX's LocalDagRunner."""
    if name == "local":
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner

        return LocalDagRunner
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    return BeamDagRunner


def _root_message(error: BaseException) -> str:
    """The innermost cause's message (Beam wraps component errors several layers deep)."""
    seen = error
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    text = str(seen) or str(error)
    return text.strip().split("\n [while running")[0]


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
