"""Drift that retrains: claim the pending retrain request exactly once, run the release
loop, and record how it ended on the request; ``watch`` does that as requests arrive."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time

from rollout import retrain_requests
from rollout.canary.manager import RolloutManager
from rollout.release import loop
from rollout.release.outcome import ACTOR, Outcome, say
from rollout.release.tools import NO_TOOLS, ReleaseTools


def run_requested(
    args: argparse.Namespace,
    pipeline_args: list[str],
    manager: RolloutManager,
    tools: ReleaseTools = NO_TOOLS,
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
        outcome = loop.release(args, pipeline_args, manager, tools)
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


def watch(
    args: argparse.Namespace,
    pipeline_args: list[str],
    manager: RolloutManager,
    tools: ReleaseTools = NO_TOOLS,
) -> int:
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
            outcome = run_requested(args, pipeline_args, manager, tools)
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
