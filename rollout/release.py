"""``cifar10-release``: the whole model CD loop in one command.

    new data span -> pipeline (train, evaluate, bless, push) -> canary at the first weight
    -> analysis window after window (step / promote / roll back) -> done

With no ``--server``/``--router`` it starts the model server and the canary router
in-process (free ports) and, unless ``--no-load``, a load generator sending real CIFAR-10
test images through the router. The first release (nothing stable yet) is deployed
directly. A rollout left in progress by a crash is resumed instead of starting a new one.

``--inject-faulty constant|error`` skips training and pushes a broken model as if it had
passed offline evaluation, to show the automatic rollback.

Anything after ``--`` goes to the pipeline runner (beam_runner.py), e.g. ``-- --beam-mode
multi_processing``. Exit codes: 0 promoted / deployed / nothing to do, 3 rolled back,
1 pipeline or serving failure, 2 bad input data or arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pipeline import configs  # noqa: E402
from rollout import alerts, analysis  # noqa: E402
from rollout.manager import RolloutError, RolloutManager  # noqa: E402
from rollout.policy import PolicyError, load_policy  # noqa: E402
from rollout.synthetic_models import BEHAVIOURS  # noqa: E402

EXIT_ROLLED_BACK = 3
ACTOR = "cifar10-release"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cifar10-release", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--output-root", default=str(configs.DEFAULT_OUTPUT_ROOT))
    p.add_argument("--data-root", help="cifar-10-batches-py folder (default: as beam_runner)")
    p.add_argument("--limit", type=int, help="pipeline: first N train and N test images")
    p.add_argument("--epochs", type=int, help="pipeline: training epochs")
    p.add_argument("--accuracy-lower-bound", type=float)
    p.add_argument("--policy", default=str(configs.ROLLOUT_POLICY_PATH))
    p.add_argument("--window", type=float, help="analysis window seconds (default: policy)")
    p.add_argument("--inject-faulty", choices=[b for b in BEHAVIOURS if b != "brightness"],
                   help="skip training; push a broken model as if it were blessed")
    p.add_argument("--skip-pipeline", action="store_true",
                   help="roll out the newest version on disk instead of training one")
    p.add_argument("--if-retrain-requested", action="store_true",
                   help="run only when drift monitoring recorded a retrain request")
    p.add_argument("--server", help="REST URL of a running model server (else in-process)")
    p.add_argument("--router", help="REST URL of a running canary router (else in-process)")
    p.add_argument("--no-load", action="store_true", help="no built-in load generator")
    p.add_argument("--load-rate", type=float, default=20.0, help="requests per second")
    p.add_argument("--load-timeout", type=float, default=600.0,
                   help="give up watching after this many seconds")
    return p


def say(message: str) -> None:
    print(f"[release {time.strftime('%H:%M:%S')}] {message}", flush=True)


def train_and_push(args: argparse.Namespace, pipeline_args: list[str]) -> tuple[int, int | None]:
    """Run the pipeline on a new span; (exit code, pushed version or None)."""
    import beam_runner
    from pipeline import summary

    argv = ["--output-root", args.output_root, "--new-span", *pipeline_args]
    for flag, value in (("--data-root", args.data_root), ("--limit", args.limit),
                        ("--epochs", args.epochs),
                        ("--accuracy-lower-bound", args.accuracy_lower_bound)):
        if value is not None:
            argv += [flag, str(value)]
    say(f"pipeline: beam_runner {' '.join(argv)}")
    code = beam_runner.main(argv)
    if code != 0:
        return code, None
    result = summary.read_run(configs.metadata_path(Path(args.output_root)))
    if not result.blessed:
        say("the new model was not blessed by offline evaluation: nothing to roll out")
        return 0, None
    if not result.pushed or not result.pushed_destination:
        say("blessed, but identical to a served version: nothing to roll out")
        return 0, None
    version = int(Path(result.pushed_destination).name)
    say(f"blessed (test accuracy {result.accuracy:.4f}) and pushed as version {version}")
    return 0, version


def push_faulty(manager: RolloutManager, behaviour: str) -> int:
    """Publish a broken model the way the Pusher would (atomically, next free version)."""
    from pipeline.components.atomic_pusher import publish_atomically
    from rollout.synthetic_models import write_model

    with tempfile.TemporaryDirectory() as tmp:
        model = write_model(Path(tmp) / "model", behaviour)
        _, version = publish_atomically(str(model), str(manager.model_dir), int(time.time()))
    say(f"[inject-faulty] pushed a '{behaviour}' model as version {version}, as if it had "
        "passed offline evaluation")
    return version


def _start_serving(stack: ExitStack, manager: RolloutManager) -> tuple[str, str]:
    """In-process model server + router on free ports; returns (server, router) REST URLs."""
    from rollout.drift import DriftReferenceError
    from rollout.monitoring import drift_monitor_for
    from rollout.router import Router
    from serving.server import ModelServer

    server = ModelServer(model_config_file=manager.config_path, grpc_port=0, rest_port=0,
                         model_config_poll_seconds=1, file_system_poll_seconds=1,
                         allow_version_labels_for_unavailable_models=True)
    stack.callback(server.stop)
    server.start()
    monitor = None
    if manager.policy.drift.enabled:
        try:
            monitor = drift_monitor_for(manager)
        except DriftReferenceError as e:
            say(f"drift monitoring off: {e}")
    router = Router(server.rest_url, server.grpc_target, manager.paths.state, manager.policy,
                    rest_port=0, grpc_port=0, drift_monitor=monitor)
    stack.callback(router.stop)
    router.start()
    say(f"model server REST {server.rest_url} gRPC {server.grpc_target}; "
        f"router REST {router.rest_url} gRPC {router.grpc_target}")
    return server.rest_url, router.rest_url


def _start_load(stack: ExitStack, router_url: str, rate: float):
    from ingest import cifar10
    from rollout.loadgen import LoadGenerator

    data_root = configs.SHARED_DATA_ROOT
    test = cifar10.load_batch(Path(data_root) / configs.TEST_BATCH)
    load = LoadGenerator(router_url, test.images, test.labels, rate_per_second=rate)
    stack.callback(load.stop)
    say(f"load generator: {rate:.0f} req/s of CIFAR-10 test images through the router")
    return load.start()


def roll_out(args: argparse.Namespace, manager: RolloutManager, version: int | None) -> int:
    """Canary ``version`` (or resume the rollout in progress) until promote or rollback."""
    from rollout.serving_client import wait_until_available, warm_up
    from rollout.watch import CanaryWatch, describe, http_metrics

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
            manager.start(version, weight=0, actor=ACTOR,
                          reason=f"load version {version} without traffic")
            say(f"canary {version}: loading on the model server (no traffic yet)")
        else:
            say(f"resuming the rollout of version {state.canary} at {state.weight}%")
        canary = manager.state().canary
        if not wait_until_available(server_url, canary, timeout=120):
            manager.rollback(actor=ACTOR, reason=f"version {canary} did not load")
            say(f"ROLLED BACK: version {canary} never became AVAILABLE")
            return EXIT_ROLLED_BACK
        warm_up(server_url, canary)
        if manager.state().weight == 0:
            manager.step(actor=ACTOR, reason=f"version {canary} AVAILABLE; first weight step")
        say(f"canary {canary} takes {manager.state().weight}% of traffic "
            f"(steps {list(manager.policy.weight_steps)}, window "
            f"{manager.policy.analysis.window_seconds:.0f}s)")
        load = None if args.no_load else _start_load(stack, router_url, args.load_rate)
        watch = CanaryWatch(manager, http_metrics(router_url), actor="canary-analysis",
                            say=lambda line: say(line))
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
            say(f"failed requests on stable: {view.failed[configs.STABLE_LABEL]}")
    state = manager.state()
    if final == analysis.PROMOTE:
        say(f"PROMOTED: version {state.stable} is stable (retired: {state.retired})")
        return 0
    if final == analysis.ROLLBACK:
        say(f"ROLLED BACK: version {canary} retired; stable {state.stable} keeps serving")
        return EXIT_ROLLED_BACK
    say(f"no decision yet (rollout of {state.canary} at {state.weight}% left in progress)")
    return 1


def run(args: argparse.Namespace, pipeline_args: list[str]) -> int:
    policy = load_policy(args.policy)
    if args.window:
        policy = policy.with_window(args.window)
    manager = RolloutManager(args.output_root, policy)
    if args.if_retrain_requested:
        request = alerts.pending_retrain_request(manager.paths)
        if request is None:
            say("no retrain request pending; nothing to do")
            return 0
        say(f"retrain requested: {request['reason']}")
        alerts.consume_retrain_request(manager.paths)
    state = manager.state()
    version: int | None = None
    if state.canary is not None:
        say(f"found an unfinished rollout of version {state.canary}; resuming it")
    elif args.inject_faulty:
        version = push_faulty(manager, args.inject_faulty)
    elif args.skip_pipeline:
        from rollout.manager import available_versions

        versions = available_versions(manager.model_dir)
        version = versions[-1] if versions else None
    else:
        code, version = train_and_push(args, pipeline_args)
        if code != 0:
            return code
    if state.canary is None:
        if version is None:
            return 0
        if state.stable is None:
            manager.init(version, actor=ACTOR, reason="first deployment (nothing to compare)")
            say(f"DEPLOYED: version {version} is the first stable version")
            return 0
        if version == state.stable:
            say(f"version {version} is already stable: nothing to roll out")
            return 0
    return roll_out(args, manager, version)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pipeline_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, pipeline_args = argv[:split], argv[split + 1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.server and not args.router:
            parser.error("--server needs --router (the metrics come from the router)")
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
