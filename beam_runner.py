"""Run the CIFAR-10 pipeline locally with Apache Beam (BeamDagRunner or LocalDagRunner).

    python beam_runner.py [--data-root DIR] [--epochs N] [-- <beam args>]

Finds the data (flag, $CIFAR10_DATA_ROOT, ../shared subset, or the official download),
converts it into an input span, runs the pipeline with per-component progress, prints a
summary and writes the run's HTML report. Exit codes: 0 pushed or cleanly not blessed,
2 bad input data, 1 pipeline failure. Anything after ``--`` goes to Beam untouched (e.g.
``--runner=FlinkRunner ...``). The work itself is ``pipeline.runner.run``; this is its CLI.
"""

from __future__ import annotations

import argparse
import sys
import time

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

from pipeline import run_config  # noqa: E402


def parse_args(argv: list[str] | None = None) -> run_config.RunConfig:
    """Command-line flags -> a run config (argparse's usage error and exit 2 on bad flags)."""
    flags, beam = run_config.split_beam_args(list(sys.argv[1:] if argv is None else argv))
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    run_config.add_arguments(p)
    args = p.parse_args(flags)
    try:
        return run_config.from_arguments(args, beam)
    except run_config.RunConfigError as e:
        p.error(str(e))
        raise  # p.error exits; this keeps type checkers informed


def run(config: run_config.RunConfig) -> int:
    """Run with progress lines on the terminal, the full log in a file; returns the exit code."""
    from ingest import cifar10
    from pipeline import progress, runner, summary

    try:
        span = runner.prepare_input(config)
    except cifar10.CifarDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return runner.EXIT_BAD_INPUT
    print(
        f"input span {span.span} ({'reused' if span.reused else 'written'}): "
        + ", ".join(f"{k}={v}" for k, v in span.counts.items())
    )
    log_file = config.output_root / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    print(f"pipeline root: {config.pipeline_root}  (full log: {log_file})")
    with progress.captured(log_file) as tracker:
        outcome = runner.execute(config, span)
    if outcome.summary is None:  # ML Metadata could not even be opened: nothing ran
        print(f"error: {outcome.error}", file=sys.stderr)
        return outcome.exit_code
    print()
    print(summary.format_table(outcome.summary, tracker.durations))
    print(f"total: {outcome.seconds:.1f}s")
    _write_report(config, outcome)
    if outcome.error is not None:
        print(f"\nerror: the pipeline failed: {outcome.error}", file=sys.stderr)
        print("nothing was pushed; previously pushed models are untouched", file=sys.stderr)
    return outcome.exit_code


def _write_report(config: run_config.RunConfig, outcome) -> None:
    """The run's HTML report; a report that cannot be written never fails the run."""
    try:
        import report
        from pipeline import runner

        path = report.write_run_report(
            runner.metadata_connection_config(config), config.output_root, failure=outcome.error
        )
        print(f"report: {path}")
    except Exception as e:  # the run's outcome stands without its report
        print(f"warning: could not write the run report: {e}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
