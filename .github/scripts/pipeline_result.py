"""The verdict of the latest pipeline run, machine-readable, for the workflows.

    python .github/scripts/pipeline_result.py --output-root outputs [--require-blessed]

beam_runner.py exits 0 both when it pushed a model and when the Evaluator cleanly did not
bless it, so its exit code cannot gate a pull request. This reads the same ML Metadata
record its printed summary comes from (pipeline.summary.read_run), prints it as JSON and,
under GitHub Actions, writes ``blessed``, ``pushed``, ``version`` and ``accuracy`` to
$GITHUB_OUTPUT for later jobs. Exit codes: 0 ok, 1 ``--require-blessed`` and the model was
not blessed and pushed, 2 no run recorded under the output root.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Protocol


class RunVerdict(Protocol):
    """The fields of pipeline.summary.RunSummary this script reads (a Protocol, so the unit
    tests can pass a plain object without importing TFX)."""

    components: dict[str, str]
    accuracy: float | None
    blessed: bool | None
    pushed: bool | None
    pushed_destination: str | None
    failed_checks: list[str]


def verdict(run: RunVerdict) -> dict[str, Any]:
    """JSON-ready verdict; ``version`` is the pushed version directory's name."""
    version = None
    if run.pushed and run.pushed_destination:
        version = Path(run.pushed_destination).name
    return {
        "blessed": bool(run.blessed),
        "pushed": bool(run.pushed),
        "version": version,
        "pushed_destination": run.pushed_destination if run.pushed else None,
        "accuracy": run.accuracy,
        "failed_checks": list(run.failed_checks),
        "components": dict(run.components),
    }


def github_outputs(result: dict[str, Any]) -> str:
    """``key=value`` lines for $GITHUB_OUTPUT (booleans as the strings 'true'/'false', which
    is what `if: needs.<job>.outputs.pushed == 'true'` compares against)."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return "" if value is None else str(value)

    return "".join(
        f"{key}={text(result[key])}\n" for key in ("blessed", "pushed", "version", "accuracy")
    )


def exit_code(result: dict[str, Any], require_blessed: bool) -> int:
    if not result["components"]:
        return 2
    if require_blessed and not (result["blessed"] and result["pushed"]):
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output-root", default="outputs", help="the --output-root the pipeline ran with"
    )
    parser.add_argument(
        "--require-blessed",
        action="store_true",
        help="exit 1 unless the Evaluator blessed and the Pusher pushed",
    )
    args = parser.parse_args(argv)
    repo_root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo_root))
    from pipeline import configs, summary  # TFX import: only here, not in the unit tests

    db = configs.metadata_path(Path(args.output_root).resolve())
    if not db.is_file():
        print(f"error: no ML Metadata at {db}: did the pipeline run?", file=sys.stderr)
        return 2
    result = verdict(summary.read_run(db))
    print(json.dumps(result, indent=2))
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.write(github_outputs(result))
    code = exit_code(result, args.require_blessed)
    if code == 1:
        print(
            "error: the Evaluator did not bless the candidate (see failed_checks)", file=sys.stderr
        )
    elif code == 2:
        print("error: no pipeline run recorded", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
