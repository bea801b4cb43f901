"""One pass of the release loop: resume a rollout, or take a candidate (trained, or pushed
by a tool) and roll it out as a canary until the analysis promotes or rolls it back."""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack

from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.manager import RolloutError, RolloutManager
from rollout.client_tls import ClientTls
from rollout.release import pipeline_run
from rollout.release.outcome import ACTOR, EXIT_ROLLED_BACK, Outcome, say
from rollout.release.tools import NO_TOOLS, ReleaseTools

NO_TRAFFIC = (
    "a canary needs clients to be judged by: give --server and --router (a serving stack "
    "with real traffic), or run the self-contained demo (python -m demos.release), which "
    "adds a load generator"
)


def roll_out(
    args: argparse.Namespace,
    manager: RolloutManager,
    version: int | None,
    tools: ReleaseTools = NO_TOOLS,
) -> Outcome:
    """Canary ``version`` (or resume the rollout in progress) until promote or rollback."""
    from rollout.canary.watch import CanaryWatch, describe, http_metrics
    from rollout.serving_client import wait_until_available, warm_up

    if not args.server and tools.start_traffic is None:
        raise RolloutError(NO_TRAFFIC)
    state = manager.state()
    if state.canary is not None and version is not None and version != state.canary:
        say(f"a rollout of version {state.canary} is in progress; finishing it first")
        version = state.canary
    with ExitStack() as stack:
        if args.server:
            server_url, router_url = args.server, args.router
        else:
            from rollout.release.local_serving import start_serving

            server_url, router_url = start_serving(stack, manager)
        state = manager.state()
        if state.canary is None:
            manager.start(
                version, weight=0, actor=ACTOR, reason=f"load version {version} without traffic"
            )
            say(f"canary {version}: loading on the model server (no traffic yet)")
        else:
            say(f"resuming the rollout of version {state.canary} at {state.weight}%")
        canary = manager.state().canary
        tls = ClientTls.from_args(args) if args.server else None  # in-process: plaintext
        model = manager.model_name
        if not wait_until_available(server_url, canary, timeout=120, model=model, tls=tls):
            manager.rollback(actor=ACTOR, reason=f"version {canary} did not load")
            say(f"ROLLED BACK: version {canary} never became AVAILABLE")
            return Outcome(
                EXIT_ROLLED_BACK, "rolled_back", f"version {canary} never became AVAILABLE"
            )
        warm_up(server_url, canary, model=model, tls=tls)
        if manager.state().weight == 0:
            manager.step(actor=ACTOR, reason=f"version {canary} AVAILABLE; first weight step")
        say(
            f"canary {canary} takes {manager.state().weight}% of traffic "
            f"(steps {list(manager.policy.weight_steps)}, window "
            f"{manager.policy.analysis.window_seconds:.0f}s)"
        )
        traffic = (
            None if tools.start_traffic is None else tools.start_traffic(stack, router_url, args)
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
        if traffic is not None:
            view = traffic.stop()
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


def release(
    args: argparse.Namespace,
    pipeline_args: list[str],
    manager: RolloutManager,
    tools: ReleaseTools = NO_TOOLS,
) -> Outcome:
    """One pass of the loop: resume a rollout, or train (or take a tool's) version and roll
    it out."""
    state = manager.state()
    version: int | None = None
    trained = False
    if state.canary is not None:
        say(f"found an unfinished rollout of version {state.canary}; resuming it")
    elif tools.candidate is not None and (pushed := tools.candidate(args, manager)) is not None:
        version = pushed
    elif args.skip_pipeline:
        versions = manager.versions_on_disk()
        version = versions[-1] if versions else None
    else:
        code, version = pipeline_run.train_and_push(args, pipeline_args)
        if code != 0:
            return Outcome(code, "failed", f"pipeline failed (exit {code}); see its log")
        trained = True
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
        if trained:
            pipeline_run.build_drift_reference(args, manager, version)
        if state.stable is None:
            manager.init(version, actor=ACTOR, reason="first deployment (nothing to compare)")
            say(f"DEPLOYED: version {version} is the first stable version")
            return Outcome(0, "deployed", f"version {version} deployed as the first stable")
    return roll_out(args, manager, version, tools)


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
