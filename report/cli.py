"""``cifar10-report``: (re)generate a run report from ML Metadata and the artifacts alone.

cifar10-report [--output-root DIR] [--run ID]     # one run (default: the latest)
cifar10-report --pipeline-name my_photos          # a run on the image folder my_photos/
cifar10-report --compare A B                      # two runs side by side
cifar10-report --list                             # the run ids ML Metadata knows
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from pipeline import configs

    p = argparse.ArgumentParser(prog="cifar10-report", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--output-root",
        default=str(configs.DEFAULT_OUTPUT_ROOT),
        help="the pipeline's output root (reports go to <root>/reports)",
    )
    p.add_argument(
        "--pipeline-name",
        default=configs.PIPELINE_NAME,
        help="whose ML Metadata to read: the run's --pipeline-name (by default its model "
        "name: cifar10 for CIFAR-10, the data folder's name for an image folder)",
    )
    p.add_argument(
        "--metadata-db",
        help="ML Metadata SQLite file (default <output-root>/pipelines/<pipeline-name>/"
        "metadata.sqlite)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--run", metavar="ID", help="run id (a pipeline run context's name)")
    group.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two run ids")
    group.add_argument("--list", action="store_true", help="list the runs and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from pipeline import configs

    output_root = Path(args.output_root).resolve()
    db = (
        Path(args.metadata_db)
        if args.metadata_db
        else configs.metadata_path(output_root, args.pipeline_name)
    )
    if not db.is_file():
        print(
            f"error: no ML Metadata at {db} (run the pipeline first, or pass "
            "--output-root/--pipeline-name/--metadata-db)",
            file=sys.stderr,
        )
        return 2
    from tfx.orchestration import metadata

    import report
    from pipeline import summary

    config = metadata.sqlite_metadata_connection_config(str(db))
    if args.list:
        for run in summary.list_runs(config):
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started))
            print(f"{run.run_id}\t{started}\t{run.context_type}")
        return 0
    try:
        if args.compare:
            path = report.write_compare_report(config, output_root, *args.compare)
        else:
            path = report.write_run_report(config, output_root, args.run)
    except KeyError as e:
        print(f"error: {e.args[0]} (cifar10-report --list shows the runs)", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
