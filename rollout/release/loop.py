"""``cifar10-release``: the whole model CD loop in one command.

    new data span -> pipeline (train, evaluate, bless, push) -> canary at the first weight
    -> analysis window after window (step / promote / roll back) -> done

With no ``--server``/``--router`` it starts the model server and the canary router
in-process (free ports) and, unless ``--no-load``, a load generator sending real CIFAR-10
test images through the router. The first release (nothing stable yet) is deployed
directly. A rollout left in progress by a crash is resumed instead of starting a new one.

``--inject-faulty constant|error`` skips training and pushes a broken model as if it had
passed offline evaluation, to show the automatic rollback.

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
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from demos.synthetic_models import BEHAVIOURS
from ingest import settings as ingest_settings
from pipeline import configs
from rollout import retrain_requests
from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.manager import RolloutError, RolloutManager
from rollout.policy import PolicyError, load_policy

EXIT_ROLLED_BACK = 3
ACTOR = "cifar10-release"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cifar10-release",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--output-root", default=str(configs.DEFAULT_OUTPUT_ROOT))
    p.add_argument("--data-root", help="cifar-10-batches-py folder (default: as beam_runner)")
    p.add_argument("--limit", type=int, help="pipeline: first N train and N test images")
    p.add_argument("--epochs", type=int, help="pipeline: training epochs")
    p.add_argument("--accuracy-lower-bound", type=float)
    p.add_argument("--policy", default=str(rollout_settings.ROLLOUT_POLICY_PATH))
    p.add_argument("--window", type=float, help="analysis window seconds (default: policy)")
    p.add_argument(
        "--inject-faulty",
        choices=[b for b in BEHAVIOURS if b != "brightness"],
        help="skip training; push a broken model as if it were blessed",
    )
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
    p.add_argument("--server", help="REST URL of a running model server (else in-process)")
    p.add_argument("--router", help="REST URL of a running canary router (else in-process)")
    p.add_argument("--no-load", action="store_true", help="no built-in load generator")
    p.add_argument("--load-rate", type=float, default=20.0, help="requests per second")
    p.add_argument(
        "--load-timeout", type=float, default=600.0, help="give up watching after this many seconds"
    )
    return p


@dataclass(frozen=True)
class Outcome:
    """How one release ended: exit code, what happened, and why."""

    code: int
    status: str  # deployed | promoted | rolled_back | nothing | failed | unfinished
    reason: str

    @property
    def new_model_serving(self) -> bool:
        return self.status in ("deployed", "promoted")


def say(message: str) -> None:
    print(f"[release {time.strftime('%H:%M:%S')}] {message}", flush=True)


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


def push_faulty(manager: RolloutManager, behaviour: str) -> int:
    """Publish a broken model the way the Pusher would (atomically, next free version)."""
    from demos.synthetic_models import write_model
    from pipeline.components.atomic_pusher import publish_atomically

    with tempfile.TemporaryDirectory() as tmp:
        model = write_model(Path(tmp) / "model", behaviour)
        _, version = publish_atomically(str(model), str(manager.model_dir), int(time.time()))
    say(
        f"[inject-faulty] pushed a '{behaviour}' model as version {version}, as if it had "
        "passed offline evaluation"
    )
    return version


def _start_serving(stack: ExitStack, manager: RolloutManager) -> tuple[str, str]:
    """In-process model server + router on free ports; returns (server, router) REST URLs."""
    from rollout.canary.monitoring import drift_monitor_for
    from rollout.canary.router import Router
    from rollout.drift.monitor import DriftReferenceError
    from serving.server import ModelServer

    server = ModelServer(
        model_config_file=manager.config_path,
        grpc_port=0,
        rest_port=0,
        model_config_poll_seconds=1,
        file_system_poll_seconds=1,
        allow_version_labels_for_unavailable_models=True,
    )
    stack.callback(server.stop)
    server.start()
    monitor = None
    if manager.policy.drift.enabled:
        try:
            monitor = drift_monitor_for(manager)
        except DriftReferenceError as e:
            say(f"drift monitoring off: {e}")
    router = Router(
        server.rest_url,
        server.grpc_target,
        manager.paths.state,
        manager.policy,
        rest_port=0,
        grpc_port=0,
        drift_monitor=monitor,
    )
    stack.callback(router.stop)
    router.start()
    say(
        f"model server REST {server.rest_url} gRPC {server.grpc_target}; "
        f"router REST {router.rest_url} gRPC {router.grpc_target}"
    )
    return server.rest_url, router.rest_url


def data_root(args: argparse.Namespace) -> Path:
    """--data-root, else $CIFAR10_DATA_ROOT, else the pipeline's default (one rule for the
    pipeline, the load generator and the drift reference)."""
    from ingest import cifar10

    return cifar10.resolve_data_root(args.data_root, dict(os.environ))


def _start_load(stack: ExitStack, router_url: str, rate: float, root: Path):
    from demos.loadgen import LoadGenerator
    from ingest import cifar10

    test = cifar10.load_test(root)
    load = LoadGenerator(router_url, test.images, test.labels, rate_per_second=rate)
    stack.callback(load.stop)
    say(f"load generator: {rate:.0f} req/s of CIFAR-10 test images through the router")
    return load.start()


def roll_out(args: argparse.Namespace, manager: RolloutManager, version: int | None) -> Outcome:
    """Canary ``version`` (or resume the rollout in progress) until promote or rollback."""
    from rollout.canary.watch import CanaryWatch, describe, http_metrics
    from rollout.serving_client import wait_until_available, warm_up

    state = manager.state()
    if state.canary is not None and version is not None and version != state.canary:
        say(f"a rollout of version {state.canary} is in progress; finishing it first")
        version = state.canary
    with ExitStack() as stack:
        if args.server:
            server_url, router_url = args.server, args.router
        else:
            server_url, router_url = _start_serving(stack, manager)
        state = manager.state()
        if state.canary is None:
            manager.start(
                version, weight=0, actor=ACTOR, reason=f"load version {version} without traffic"
            )
            say(f"canary {version}: loading on the model server (no traffic yet)")
        else:
            say(f"resuming the rollout of version {state.canary} at {state.weight}%")
        canary = manager.state().canary
        if not wait_until_available(server_url, canary, timeout=120):
            manager.rollback(actor=ACTOR, reason=f"version {canary} did not load")
            say(f"ROLLED BACK: version {canary} never became AVAILABLE")
            return Outcome(
                EXIT_ROLLED_BACK, "rolled_back", f"version {canary} never became AVAILABLE"
            )
        warm_up(server_url, canary)
        if manager.state().weight == 0:
            manager.step(actor=ACTOR, reason=f"version {canary} AVAILABLE; first weight step")
        say(
            f"canary {canary} takes {manager.state().weight}% of traffic "
            f"(steps {list(manager.policy.weight_steps)}, window "
            f"{manager.policy.analysis.window_seconds:.0f}s)"
        )
        load = (
            None
            if args.no_load
            else _start_load(stack, router_url, args.load_rate, data_root(args))
        )
        watch = CanaryWatch(
            manager, http_metrics(router_url), actor="canary-analysis", say=lambda line: say(line)
        )
        deadline = time.monotonic() + args.load_timeout
        final = "unfinished"
        while time.monotonic() < deadline:
            verdict = watch.run_window()
            if verdict is None:
                break
            say(describe(verdict))
            final = verdict.action
            if final in (analysis.PROMOTE, analysis.ROLLBACK):
                break
        if load is not None:
            view = load.stop()
            say(f"clients saw: {view.line()}")
            say(f"failed requests on stable: {view.failed[rollout_settings.STABLE_LABEL]}")
    state = manager.state()
    if final == analysis.PROMOTE:
        say(f"PROMOTED: version {state.stable} is stable (retired: {state.retired})")
        return Outcome(0, "promoted", f"version {state.stable} promoted to stable")
    if final == analysis.ROLLBACK:
        say(f"ROLLED BACK: version {canary} retired; stable {state.stable} keeps serving")
        reason = manager.history()[-1].get("reason", "") if manager.history() else ""
        return Outcome(
            EXIT_ROLLED_BACK, "rolled_back", f"canary {canary} rolled back: {reason}".rstrip(": ")
        )
    say(f"no decision yet (rollout of {state.canary} at {state.weight}% left in progress)")
    return Outcome(
        1, "unfinished", f"no verdict on canary {state.canary} within {args.load_timeout:.0f}s"
    )


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


def release(args: argparse.Namespace, pipeline_args: list[str], manager: RolloutManager) -> Outcome:
    """One pass of the loop: resume a rollout, or train (or inject) a version and roll it
    out."""
    state = manager.state()
    version: int | None = None
    if state.canary is not None:
        say(f"found an unfinished rollout of version {state.canary}; resuming it")
    elif args.inject_faulty:
        version = push_faulty(manager, args.inject_faulty)
    elif args.skip_pipeline:
        versions = manager.versions_on_disk()
        version = versions[-1] if versions else None
    else:
        code, version = train_and_push(args, pipeline_args)
        if code != 0:
            return Outcome(code, "failed", f"pipeline failed (exit {code}); see its log")
    if state.canary is None:
        if version is None:
            return Outcome(
                0,
                "nothing",
                "no new model to roll out (not blessed, or identical to a served version)",
            )
        duplicate = not_new(manager, version)
        if duplicate is not None:
            say(duplicate)
            return Outcome(0, "nothing", duplicate)
        if not (args.inject_faulty or args.skip_pipeline):
            build_drift_reference(args, manager, version)
        if state.stable is None:
            manager.init(version, actor=ACTOR, reason="first deployment (nothing to compare)")
            say(f"DEPLOYED: version {version} is the first stable version")
            return Outcome(0, "deployed", f"version {version} deployed as the first stable")
    return roll_out(args, manager, version)


def not_new(manager: RolloutManager, version: int) -> str | None:
    """Why ``version`` is no candidate, if it is the stable or a retired model again.

    The Pusher reports a model it has pushed before as pushed: to the folder of the
    version it equals, or (without a SavedModel fingerprint file) to a new folder. Either
    way the content decides, not the version number: a canary would replay a model that is
    serving already or was rolled back.
    """
    twin = manager.identical_to(version)
    if twin is None:
        return None
    role, other = twin
    if other == version:
        return f"version {version} is the {role} version: no canary"
    return f"version {version} has the same SavedModel content as {role} version {other}: no canary"


def run_requested(
    args: argparse.Namespace, pipeline_args: list[str], manager: RolloutManager
) -> Outcome | None:
    """Claim the pending retrain request, run the loop, record the outcome; None when no
    request was pending (or another scheduler claimed it first)."""
    paths = manager.paths
    owner = f"{ACTOR} pid {os.getpid()}@{socket.gethostname()}"
    for dead in retrain_requests.recover_dead_claims(paths, ACTOR):
        say(f"retrain request {dead['id'][:8]} marked failed: {dead['outcome_reason']}")
    if manager.state().canary is not None:
        say(
            f"a rollout of version {manager.state().canary} is in progress; a retrain "
            "request waits until it ends"
        )
        return None
    claimed = retrain_requests.claim(paths, owner)
    if claimed is None:
        return None
    say(f"retrain request {claimed.id[:8]} claimed: {claimed.request.get('reason', '')}")
    stable = manager.state().stable
    try:
        outcome = release(args, pipeline_args, manager)
    except BaseException as e:
        reason = f"{type(e).__name__}: {e}"
        state = manager.state()
        if state.canary is not None:  # a retrain that failed must leave stable serving
            manager.rollback(actor=ACTOR, reason=f"retrain failed: {reason}")
        retrain_requests.finish(paths, claimed, retrain_requests.FAILED, reason, ACTOR)
        say(f"retrain request {claimed.id[:8]} FAILED: {reason}; stable {stable} serves")
        raise
    status = retrain_requests.DONE if outcome.new_model_serving else retrain_requests.FAILED
    retrain_requests.finish(
        paths,
        claimed,
        status,
        outcome.reason,
        ACTOR,
        outcome=outcome.status,
        exit_code=outcome.code,
        stable=manager.state().stable,
    )
    say(f"retrain request {claimed.id[:8]} {status.upper()}: {outcome.reason}")
    return outcome


def watch(args: argparse.Namespace, pipeline_args: list[str], manager: RolloutManager) -> int:
    """Poll for retrain requests and act on each; exit 0 unless the last run failed."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, lambda *_: stop.set())
        except ValueError:  # not the main thread (tests): no signal handling needed
            break
    deadline = None if args.watch_seconds is None else time.monotonic() + args.watch_seconds
    say(f"watching {manager.paths.root} for retrain requests every {args.poll_seconds:g}s")
    runs, code = 0, 0
    while not stop.is_set():
        try:
            outcome = run_requested(args, pipeline_args, manager)
        except Exception as e:  # recorded on the request; keep watching
            say(f"retrain run failed: {type(e).__name__}: {e}")
            outcome = Outcome(1, "failed", str(e))
        if outcome is not None:
            runs, code = runs + 1, outcome.code
            if args.max_runs is not None and runs >= args.max_runs:
                break
        if deadline is not None and time.monotonic() >= deadline:
            break
        stop.wait(args.poll_seconds)
    say(f"watch ended after {runs} retrain run(s)")
    return code


def run(args: argparse.Namespace, pipeline_args: list[str]) -> int:
    policy = load_policy(args.policy)
    if args.window:
        policy = policy.with_window(args.window)
    manager = RolloutManager(args.output_root, policy)
    if args.watch:
        return watch(args, pipeline_args, manager)
    if args.if_retrain_requested:
        outcome = run_requested(args, pipeline_args, manager)
        if outcome is None:
            say("no retrain request pending; nothing to do")
            return 0
        return outcome.code
    return release(args, pipeline_args, manager).code


# --- for schedulers (airflow_dags/cifar10_release_dag.py) -----------------------------
RELEASE_ARGS_ENV = "CIFAR10_RELEASE_ARGS"  # extra cifar10-release flags, e.g. --server/--router


def scheduled_argv(env: dict[str, str] | None = None) -> list[str]:
    """``cifar10-release --if-retrain-requested`` flags from the environment: the output and
    data roots (the pipeline's variables) plus ``$CIFAR10_RELEASE_ARGS``."""
    import shlex

    env = dict(os.environ if env is None else env)
    argv = ["--if-retrain-requested"]
    if env.get(configs.OUTPUT_ROOT_ENV):
        argv += ["--output-root", env[configs.OUTPUT_ROOT_ENV]]
    if env.get(ingest_settings.DATA_ROOT_ENV):
        argv += ["--data-root", env[ingest_settings.DATA_ROOT_ENV]]
    return argv + shlex.split(env.get(RELEASE_ARGS_ENV, ""))


def retrain_request_pending(output_root: Path | str | None = None) -> bool:
    """True when a retrain request waits (cheap: one stat; for sensors)."""
    from rollout.state import StatePaths

    root = output_root or os.environ.get(configs.OUTPUT_ROOT_ENV) or configs.DEFAULT_OUTPUT_ROOT
    return StatePaths.for_output_root(root).retrain_request.exists()


def run_scheduled(env: dict[str, str] | None = None) -> int:
    """Run one scheduled release; raises when it did not end with the new model serving
    (rolled back, not blessed, failed), so the scheduler shows the run as failed."""
    argv = scheduled_argv(env)
    code = main(argv)
    if code != 0:
        raise RuntimeError(
            f"cifar10-release {' '.join(argv)} exited {code}; the retrain "
            "request's outcome is in the rollout history"
        )
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pipeline_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, pipeline_args = argv[:split], argv[split + 1 :]
    parser = build_parser()
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
        code = run(args, pipeline_args)
    except (RolloutError, PolicyError) as e:
        print(f"error: {e}", file=sys.stderr)
        code = 1
    say(f"done in {time.monotonic() - started:.0f}s (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
