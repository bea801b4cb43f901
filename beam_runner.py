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

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

from pipeline import run_config  # noqa: E402


def parse_args(argv: list[str] | None = None) -> run_config.RunConfig:
    """Command-line flags -> a run config. Exits 2 on bad flags: argparse's usage for a flag
    it cannot read, one line naming the flag, its value and its range for a bad value."""
    flags, beam = run_config.split_beam_args(list(sys.argv[1:] if argv is None else argv))
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    run_config.add_arguments(p)
    args = p.parse_args(flags)
    try:
        return run_config.from_arguments(args, beam)
    except run_config.RunConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def run(config: run_config.RunConfig) -> int:
    """The run path (``pipeline.runner.run``) with this CLI's report; returns the exit code."""
    import report
    from pipeline import runner

    return runner.run(config, write_report=report.write_run_report).exit_code


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
