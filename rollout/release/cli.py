"""``cifar10-release``: the whole model CD loop in one command.

    new data span -> pipeline (train, evaluate, bless, push) -> canary at the first weight
    -> analysis window after window (step / promote / roll back) -> done

A canary is judged by the router's live metrics, so it needs clients: give ``--server``
and ``--router`` of a serving stack with real traffic. The first release (nothing stable
yet) is deployed directly. A rollout left in progress by a crash is resumed instead of
starting a new one. The self-contained demo (``python -m demos.release``) starts the model
server and router in-process with a load generator, and can inject a faulty model.

Drift that retrains: ``--if-retrain-requested`` claims the pending retrain request (filed by
the router on a drift alert with ``on_drift: retrain``) exactly once, runs the loop, and
marks the request done (promoted/deployed) or failed with the reason (pipeline failure, not
blessed, rolled back, error; a canary left by an error is rolled back, so stable keeps
serving). ``--watch`` does that every ``--poll-seconds``, for schedulers without Airflow.

Anything after ``--`` goes to the pipeline runner (beam_runner.py), e.g. ``-- --beam-mode
multi_processing``. Exit codes: 0 promoted / deployed / nothing to do, 3 rolled back,
1 pipeline or serving failure, 2 bad input data or arguments.
"""

from __future__ import annotations

import argparse
import sys
import time

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

from pipeline import configs  # noqa: E402
from rollout import client_tls  # noqa: E402
from rollout import settings as rollout_settings  # noqa: E402
from rollout.canary.manager import RolloutError, RolloutManager  # noqa: E402
from rollout.policy import PolicyError, load_policy  # noqa: E402
from rollout.release import loop, pipeline_run, retrain  # noqa: E402
from rollout.release.outcome import say  # noqa: E402
from rollout.release.tools import NO_TOOLS, ReleaseTools  # noqa: E402
from serving.tls import TlsConfigError  # noqa: E402


def build_parser(
    tools: ReleaseTools = NO_TOOLS, prog: str = "cifar10-release", doc: str | None = None
) -> argparse.ArgumentParser:
    """The release flags, plus those of ``tools``; ``doc`` (default: this module's) is the
    help text."""
    doc = doc or __doc__ or ""
    p = argparse.ArgumentParser(
        prog=prog,
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc.split("\n\n", 1)[1],
    )
    p.add_argument("--output-root", default=str(configs.DEFAULT_OUTPUT_ROOT))
    p.add_argument(
        "--data-root",
        help="an image folder or a cifar-10-batches-py folder (default: as beam_runner)",
    )
    p.add_argument(
        "--model-name",
        help="the served model (default: as the pipeline: cifar10 for CIFAR-10, else the "
        "data folder's name)",
    )
    p.add_argument("--limit", type=int, help="pipeline: first N train and N test images")
    p.add_argument("--epochs", type=int, help="pipeline: training epochs")
    p.add_argument("--accuracy-lower-bound", type=float)
    p.add_argument("--policy", default=str(rollout_settings.ROLLOUT_POLICY_PATH))
    p.add_argument("--window", type=float, help="analysis window seconds (default: policy)")
    p.add_argument(
        "--skip-pipeline",
        action="store_true",
        help="roll out the newest version on disk instead of training one",
    )
    p.add_argument(
        "--if-retrain-requested",
        action="store_true",
        help="run only when drift monitoring recorded a retrain request",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="keep running: act on each retrain request as it arrives",
    )
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=30.0,
        help="--watch: how often to look for a retrain request",
    )
    p.add_argument("--max-runs", type=int, help="--watch: stop after this many retrain requests")
    p.add_argument(
        "--watch-seconds",
        type=float,
        help="--watch: stop after this long (default: until SIGINT/SIGTERM)",
    )
    p.add_argument(
        "--server",
        help="REST URL of the model server (without it, only the demo starts one in-process)",
    )
    p.add_argument("--router", help="REST URL of the canary router in front of --server")
    p.add_argument(
        "--load-timeout", type=float, default=600.0, help="give up watching after this many seconds"
    )
    client_tls.add_arguments(p, "--server")
    tools.add_arguments(p)
    return p


def run(args: argparse.Namespace, pipeline_args: list[str], tools: ReleaseTools = NO_TOOLS) -> int:
    policy = load_policy(args.policy)
    if args.window:
        policy = policy.with_window(args.window)
    manager = RolloutManager(
        args.output_root, policy, model_name=pipeline_run.release_model_name(args, pipeline_args)
    )
    if args.watch:
        return retrain.watch(args, pipeline_args, manager, tools)
    if args.if_retrain_requested:
        outcome = retrain.run_requested(args, pipeline_args, manager, tools)
        if outcome is None:
            say("no retrain request pending; nothing to do")
            return 0
        return outcome.code
    return loop.release(args, pipeline_args, manager, tools).code


def main(
    argv: list[str] | None = None,
    tools: ReleaseTools = NO_TOOLS,
    prog: str = "cifar10-release",
    doc: str | None = None,
) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pipeline_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, pipeline_args = argv[:split], argv[split + 1 :]
    parser = build_parser(tools, prog, doc)
    try:
        args = parser.parse_args(argv)
        if args.server and not args.router:
            parser.error("--server needs --router (the metrics come from the router)")
        if args.poll_seconds <= 0 or (args.max_runs is not None and args.max_runs < 1):
            parser.error("--poll-seconds must be positive and --max-runs at least 1")
    except SystemExit as e:
        return int(e.code or 0)
    started = time.monotonic()
    try:
        code = run(args, pipeline_args, tools)
    except (RolloutError, PolicyError) as e:
        print(f"error: {e}", file=sys.stderr)
        code = 1
    except TlsConfigError as e:  # a TLS option that cannot be used: bad arguments
        print(f"error: {e}", file=sys.stderr)
        code = 2
    say(f"done in {time.monotonic() - started:.0f}s (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
