"""``cifar10-rollout``: manage the canary rollout of the served CIFAR-10 model.

    cifar10-rollout status                      what is stable, canary, weight, retired
    cifar10-rollout init VERSION                first deployment: VERSION becomes stable
    cifar10-rollout start VERSION [--weight W]  canary VERSION at W% (default: first step)
    cifar10-rollout step [--weight W]           next weight step
    cifar10-rollout promote | rollback          end the rollout by hand
    cifar10-rollout analyze [--dry-run]         analyze one window (and apply the verdict)
    cifar10-rollout watch                       analyze window after window until done
    cifar10-rollout history [--alerts]          every decision (who/what/when/why/metrics)
    cifar10-rollout route                       run the canary router in the foreground
    cifar10-rollout sync                        rewrite the model config from the state
    cifar10-rollout drift [--batch DIR]         offline drift check of a folder of images
    cifar10-rollout drift-reference [VERSION]   build a version's drift-signal reference

Exit codes: 0 ok, 1 the operation does not apply (message says why), 2 bad arguments,
3 drift found (drift command).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ingest import settings as ingest_settings
from pipeline import configs
from rollout import atomic_io, cli_drift, client_tls
from rollout import settings as rollout_settings
from rollout.canary.manager import RolloutError, RolloutManager
from rollout.drift import shifts
from rollout.drift.alerts import pending_retrain_request
from rollout.policy import PolicyError, load_policy
from rollout.state import RolloutState, default_actor
from serving import defaults as serving_defaults
from serving.tls import TlsConfigError


def build_parser() -> argparse.ArgumentParser:
    def common_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
        """Global options, accepted before or after the command (``start 5 --reason x``)."""

        def default(value):
            return value if defaults else argparse.SUPPRESS

        parser.add_argument(
            "--output-root",
            default=default(str(configs.DEFAULT_OUTPUT_ROOT)),
            help="holds serving/ and rollout/ (default: outputs/)",
        )
        parser.add_argument(
            "--serving-root",
            default=default(None),
            help="TF Serving root (default <output-root>/serving)",
        )
        parser.add_argument(
            "--model-name",
            default=default(None),
            help="the served model (the pipeline's --model-name; default: cifar10 for "
            "CIFAR-10, else the data folder's name, from $CIFAR10_DATA_ROOT)",
        )
        parser.add_argument("--policy", default=default(str(rollout_settings.ROLLOUT_POLICY_PATH)))
        parser.add_argument(
            "--actor", default=default(None), help="who is deciding (default user@host)"
        )
        parser.add_argument("--reason", default=default(""), help="why (recorded in the history)")

    p = argparse.ArgumentParser(
        prog="cifar10-rollout",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    common_options(p, defaults=True)
    shared = argparse.ArgumentParser(add_help=False)
    common_options(shared, defaults=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[shared], **kwargs)

    status = command("status", help="current rollout")
    status.add_argument("--json", action="store_true")
    command("init", help="make VERSION stable (first deployment)").add_argument("version", type=int)
    start = command("start", help="start a canary rollout of VERSION")
    start.add_argument("version", type=int)
    start.add_argument("--weight", type=int, help="percent of traffic (default: first step)")
    start.add_argument(
        "--server",
        help="model server REST URL: load the version with no "
        "traffic, wait until AVAILABLE, then take traffic",
    )
    start.add_argument("--wait-seconds", type=float, default=120.0)
    client_tls.add_arguments(start, "--server")
    step = command("step", help="move the canary to the next weight step")
    step.add_argument("--weight", type=int, help="explicit weight instead of the next step")
    command("promote", help="canary becomes stable")
    command("rollback", help="drop the canary; stable serves everything")
    history = command("history", help="decision history")
    history.add_argument("--alerts", action="store_true", help="show the drift alerts instead")
    history.add_argument("--limit", type=int, default=0, help="only the last N records")
    history.add_argument("--json", action="store_true", help="raw JSON lines")
    for name, help_text in (
        ("analyze", "analyze one window and apply the verdict"),
        ("watch", "analyze windows until the rollout ends"),
    ):
        cmd = command(name, help=help_text)
        cmd.add_argument(
            "--router",
            default=f"http://{serving_defaults.LOOPBACK}:{rollout_settings.ROUTER_REST_PORT}",
            help="router REST URL (metrics source)",
        )
        cmd.add_argument("--window", type=float, help="window seconds (default: policy)")
        if name == "watch":
            cmd.add_argument("--max-windows", type=int)
    route = command("route", help="run the canary router")
    route.add_argument(
        "--upstream-rest",
        default=f"http://{serving_defaults.LOOPBACK}:{serving_defaults.REST_PORT}",
    )
    route.add_argument(
        "--upstream-grpc", default=f"{serving_defaults.LOOPBACK}:{serving_defaults.GRPC_PORT}"
    )
    route.add_argument("--host", default=serving_defaults.LOOPBACK)
    route.add_argument("--rest-port", type=int, default=rollout_settings.ROUTER_REST_PORT)
    route.add_argument("--grpc-port", type=int, default=rollout_settings.ROUTER_GRPC_PORT)
    route.add_argument(
        "--training-stats",
        default="auto",
        help="FeatureStats.pb for drift ('auto': newest under the pipeline "
        "root, 'none': no drift monitoring)",
    )
    client_tls.add_arguments(route, "the upstream model server")
    command("sync", help="rewrite the model config file from the rollout state")
    drift = command(
        "drift",
        help="check a batch of images for drift against the stable version's drift "
        "reference (alerts like the router)",
    )
    drift.add_argument(
        "--batch",
        help="a folder of images (any layout, no labels needed: new photos, say), a CIFAR-10 "
        "batch file, or a batch name in --data-root such as data_batch_5 (default: the test "
        "split of --data-root, which the drift reference is built from)",
    )
    drift.add_argument(
        "--data-root",
        help=f"cifar-10-batches-py folder (default: "
        f"${ingest_settings.DATA_ROOT_ENV}, then the shared subset)",
    )
    drift.add_argument(
        "--shift",
        choices=shifts.SHIFT_NAMES,
        default="none",
        help="simulate shifted inputs (rollout/drift/shifts.py)",
    )
    drift.add_argument(
        "--training-stats",
        help="FeatureStats.pb (default: newest Transform "
        "post_transform_stats under the output root)",
    )
    reference = command(
        "drift-reference",
        help="run a version on the test split and save its "
        "drift-signal reference (default: stable)",
    )
    reference.add_argument("version", type=int, nargs="?")
    reference.add_argument(
        "--data-root",
        help="cifar-10-batches-py folder (default: "
        f"${ingest_settings.DATA_ROOT_ENV}, then the shared "
        "subset)",
    )
    return p


def format_status(manager: RolloutManager, state: RolloutState) -> str:
    lines = [f"model {manager.model_name}   config: {manager.config_path}"]
    lines.append(f"stable:  {state.stable if state.stable is not None else '-'}")
    if state.canary is not None:
        nxt = manager.policy.next_weight(state.weight)
        since = (
            f", started {time.time() - state.canary_started_at:.0f}s ago"
            if state.canary_started_at
            else ""
        )
        lines.append(
            f"canary:  {state.canary} at {state.weight}% "
            f"(next step: {f'{nxt}%' if nxt is not None else 'promote'}{since})"
        )
    else:
        lines.append("canary:  - (no rollout in progress)")
    lines.append(f"retired: {', '.join(map(str, state.retired)) or '-'}")
    lines.append(f"on disk: {', '.join(map(str, manager.versions_on_disk())) or '-'}")
    recent_alerts = atomic_io.read_jsonl(manager.paths.alerts)
    if recent_alerts:
        lines.append(f"last alert: {recent_alerts[-1]['utc']} {recent_alerts[-1]['reason']}")
    request = pending_retrain_request(manager.paths)
    if request is not None:
        lines.append(
            f"retrain requested: {request['reason']} (run: cifar10-release --if-retrain-requested)"
        )
    from rollout import retrain_requests

    for running in retrain_requests.running(manager.paths):
        lines.append(
            f"retrain running: {running['id'][:8]} claimed by {running.get('claimed_by', '?')}"
        )
    outcomes = retrain_requests.outcomes(manager.paths)
    if outcomes:
        last = outcomes[-1]
        lines.append(f"last retrain: {last['id'][:8]} {last['status']}: {last['outcome_reason']}")
    return "\n".join(lines)


def format_record(r: dict) -> str:
    parts = [r.get("utc", "?"), f"{r.get('action', '?'):<17}"]
    if "version" in r:
        parts.append(f"v{r['version']}")
    if "weight" in r:
        parts.append(f"{r['weight']}%")
    parts.append(f"by {r.get('actor', '?')}: {r.get('reason', '')}")
    metrics = r.get("metrics") or {}
    if metrics:
        parts.append(f"metrics={json.dumps(metrics, sort_keys=True)}")
    return "  ".join(parts)


def _run_router(args: argparse.Namespace, manager: RolloutManager) -> int:
    from rollout.canary.router import Router

    monitor = None
    if args.training_stats != "none" and manager.policy.drift.enabled:
        from rollout.canary.monitoring import drift_monitor_for
        from rollout.drift.monitor import DriftReferenceError

        try:
            monitor = drift_monitor_for(
                manager, None if args.training_stats == "auto" else Path(args.training_stats)
            )
        except DriftReferenceError as e:
            print(f"warning: drift monitoring off: {e}", file=sys.stderr)
    router = Router(
        args.upstream_rest,
        args.upstream_grpc,
        manager.paths.state,
        manager.policy,
        host=args.host,
        rest_port=args.rest_port,
        grpc_port=args.grpc_port,
        drift_monitor=monitor,
        upstream_tls=client_tls.ClientTls.from_args(args),
        model_name=manager.model_name,
    ).start()
    print(
        f"router: REST {router.rest_url}  gRPC {router.grpc_target}  -> "
        f"{args.upstream_rest} / {args.upstream_grpc}"
        f"{'' if router.upstream_tls is None else ' (gRPC over TLS)'}",
        flush=True,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    router.stop()
    return 0


def model_name_of(args: argparse.Namespace) -> str:
    """``--model-name``, else the pipeline's rule (``pipeline.run_config``) on the data root
    (``--data-root`` where the command has one, else ``$CIFAR10_DATA_ROOT``)."""
    if getattr(args, "model_name", None):
        return str(args.model_name)
    from pipeline.run_config import default_model_name

    data_root = getattr(args, "data_root", None)
    return default_model_name(Path(data_root) if data_root else None, "auto", dict(os.environ))


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    if getattr(args, "window", None):
        policy = policy.with_window(args.window)
    manager = RolloutManager(args.output_root, policy, args.serving_root, model_name_of(args))
    actor = args.actor or default_actor()
    common = {"actor": actor, "reason": args.reason}
    cmd = args.command
    if cmd == "status":
        state = manager.state()
        print(json.dumps(state.to_json(), indent=2) if args.json else format_status(manager, state))
    elif cmd == "init":
        manager.init(args.version, **common)
        print(format_status(manager, manager.state()))
    elif cmd == "start":
        if args.server:
            from rollout.serving_client import wait_until_available, warm_up

            tls = client_tls.ClientTls.from_args(args)
            manager.start(args.version, weight=0, **common)
            print(f"waiting for version {args.version} to load on {args.server} ...")
            model = manager.model_name
            if not wait_until_available(
                args.server, args.version, args.wait_seconds, model=model, tls=tls
            ):
                manager.rollback(
                    actor=actor,
                    reason=f"version {args.version} did not "
                    f"become AVAILABLE within {args.wait_seconds:.0f}s",
                )
                print(f"error: version {args.version} did not load; rolled back", file=sys.stderr)
                return 1
            warm_up(args.server, args.version, model=model, tls=tls)
            manager.step(weight=args.weight, **common)
        else:
            manager.start(args.version, weight=args.weight, **common)
        print(format_status(manager, manager.state()))
    elif cmd == "step":
        manager.step(weight=args.weight, **common)
        print(format_status(manager, manager.state()))
    elif cmd in ("promote", "rollback"):
        getattr(manager, cmd)(**common)
        print(format_status(manager, manager.state()))
    elif cmd == "history":
        records = atomic_io.read_jsonl(manager.paths.alerts) if args.alerts else manager.history()
        records = records[-args.limit :] if args.limit else records
        for r in records:
            print(json.dumps(r, sort_keys=True) if args.json else format_record(r))
        if not records:
            print("no alerts recorded" if args.alerts else "no decisions recorded yet")
    elif cmd in ("analyze", "watch"):
        from rollout.canary.watch import CanaryWatch, describe, http_metrics

        if manager.state().canary is None:
            raise RolloutError("no canary rollout in progress; nothing to analyze")
        watch = CanaryWatch(manager, http_metrics(args.router), actor=actor)
        if cmd == "analyze":
            verdict = watch.run_window()
            print(describe(verdict) if verdict else "rollout ended during the window")
        else:
            print(f"final: {watch.run(args.max_windows)}")
        print(format_status(manager, manager.state()))
    elif cmd == "route":
        return _run_router(args, manager)
    elif cmd == "drift":
        return cli_drift.check_drift(args, manager)
    elif cmd == "drift-reference":
        return cli_drift.drift_reference(args, manager)
    elif cmd == "sync":
        print(format_status(manager, manager.sync_config()))
    return 0


def main(argv: list[str] | None = None) -> int:
    from models import keras_runtime

    keras_runtime.prepare_entry_point()  # subcommands that load TensorFlow do so later
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        return run(args)
    except (RolloutError, PolicyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except TlsConfigError as e:  # a TLS option that cannot be used: bad arguments
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
