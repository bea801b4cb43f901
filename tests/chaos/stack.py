"""A serving stack of real processes for the chaos tests: the model server, the canary
router and releases (``cifar10-release --skip-pipeline``), their command lines from
demos/serving_stack.py, started with tests.support's process helper, with steady client
load through the router (demos/loadgen.py) and the checks every fault is judged by.

Small synthetic models (demos/synthetic_models.py) stand in for trained ones, pushed the
Pusher's way; the analysis window is short so one release takes seconds.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

from demos import serving_stack
from demos.loadgen import LoadGenerator
from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import model_config
from rollout.canary.manager import RolloutManager
from rollout.policy import load_policy
from rollout.state import RolloutState
from tests.support.ports import LOOPBACK, free_port
from tests.support.processes import StartedProcess, start_process
from tests.support.waiting import wait_until

LOAD_RATE = 40.0  # requests per second through the router
LOAD_WORKERS = 4
RELEASE_TIMEOUT = 90.0  # the release's own --load-timeout
START_TIMEOUT = 180.0  # a process start on a busy 2-core machine (TensorFlow's import)


@dataclass
class Counts:
    """Client requests over an interval (a difference of two totals)."""

    sent: int
    failed: int

    @staticmethod
    def between(before: tuple[int, int], after: tuple[int, int]) -> Counts:
        return Counts(after[0] - before[0], after[1] - before[1])


class ChaosStack:
    """Server, router and load on ``work/out``; each restartable after a kill."""

    def __init__(self, work: Path, model_source: Path) -> None:
        self.work = work
        self.output_root = work / "out"
        self.serving_root = configs.serving_root(self.output_root)
        self.model_source = model_source
        self.policy_path = serving_stack.write_fast_policy(work / "policy.yaml")
        self.manager = RolloutManager(self.output_root, load_policy(self.policy_path))
        self.server_rest_port, self.server_grpc_port = free_port(), free_port()
        self.router_rest_port, self.router_grpc_port = free_port(), free_port()
        self.server: StartedProcess | None = None
        self.router: StartedProcess | None = None
        self.load: LoadGenerator | None = None
        self._starts = 0

    @property
    def server_url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_rest_port}"

    @property
    def router_url(self) -> str:
        return f"http://{LOOPBACK}:{self.router_rest_port}"

    # --- processes ----------------------------------------------------------------------
    def _log(self, what: str) -> Path:
        self._starts += 1
        return self.work / "logs" / f"{self._starts:02d}-{what}.log"

    def start_server(self) -> StartedProcess:
        """Start the model server; ready once its stable label serves."""
        command = serving_stack.server_command(
            self.manager.config_path, self.server_grpc_port, self.server_rest_port
        )
        self.server = start_process(
            command, self._log("server"), what="model server", cwd=configs.REPO_ROOT
        )
        self.server.wait_ready(
            lambda: self.served_version(rollout_settings.STABLE_LABEL) is not None,
            timeout=START_TIMEOUT,
            retry_on=(requests.RequestException,),
        )
        return self.server

    def start_router(self) -> StartedProcess:
        command = serving_stack.router_command(
            self.output_root,
            self.policy_path,
            self.server_rest_port,
            self.server_grpc_port,
            self.router_rest_port,
            self.router_grpc_port,
        )
        self.router = start_process(
            command, self._log("router"), what="canary router", cwd=configs.REPO_ROOT
        )
        self.router.wait_for_log(serving_stack.ROUTER_READY_LINE, timeout=START_TIMEOUT)
        return self.router

    def start_release(
        self, pipeline: list[str] | None = None, env: dict[str, str] | None = None
    ) -> StartedProcess:
        """``cifar10-release`` of the newest version on disk; with ``pipeline`` (its flags),
        a release that runs the pipeline first (``env`` added to the environment)."""
        command = serving_stack.release_command(
            self.output_root, self.policy_path, self.server_url, self.router_url, RELEASE_TIMEOUT
        )
        if pipeline is not None:
            command = [part for part in command if part != "--skip-pipeline"] + pipeline
        return start_process(
            command,
            self._log("release"),
            what="cifar10-release",
            cwd=configs.REPO_ROOT,
            env={**os.environ, **(env or {})},
        )

    def run_release(self, timeout: float = RELEASE_TIMEOUT + START_TIMEOUT) -> tuple[int, str]:
        """Run a release to its end: (exit code, log)."""
        release = self.start_release()
        try:
            release.popen.wait(timeout=timeout)
        finally:
            release.stop()
        return release.popen.returncode, release.log_text()

    @staticmethod
    def kill(process: StartedProcess) -> None:
        """kill -9, and reap it."""
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(timeout=30)

    def start_load(self) -> LoadGenerator:
        self.load = LoadGenerator(
            self.router_url,
            serving_stack.spread_images(),
            np.zeros(serving_stack.LOAD_IMAGES, np.int64),
            rate_per_second=LOAD_RATE,
            workers=LOAD_WORKERS,
            send_feedback=False,
        ).start()
        return self.load

    def client_totals(self) -> tuple[int, int]:
        """(sent, failed) client requests so far, over every label."""
        assert self.load is not None
        with self.load._lock:
            return self.load.view.sent, sum(self.load.view.failed.values())

    def stop(self) -> None:
        if self.load is not None:
            self.load.stop()
        for process in (self.router, self.server):
            if process is not None:
                process.stop()

    # --- models and checks --------------------------------------------------------------
    def push(self) -> int:
        return serving_stack.push_new_version(self.model_source, self.manager.model_dir, self.work)

    def state(self) -> RolloutState:
        return self.manager.state()

    def served_version(self, label: str) -> int | None:
        return serving_stack.served_version(self.server_url, label)

    def wait_for(self, condition, what: str, timeout: float = 60.0):
        return wait_until(condition, what, timeout=timeout, interval=0.1)

    def check_consistent(self) -> RolloutState:
        """No half-written model is visible, and the rollout state, its history, the model
        config and the model server's labels agree (no rollout in progress)."""
        state = self.state()
        assert state.pending is None and state.canary is None, state
        model_dir = self.manager.model_dir
        numbered = sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit())
        assert numbered == self.manager.versions_on_disk(), "a version folder is incomplete"
        staging = [p.name for p in model_dir.iterdir() if p.name.startswith(".staging")]
        assert not staging, f"staging folders left behind: {staging}"
        served = model_config.read(self.manager.config_path)
        assert served is not None and (served.stable, served.canary) == (state.stable, None)
        last = self.manager.history()[-1]
        assert last["action"] in ("init", "promote", "rollback"), last
        assert last["stable"] == state.stable, (last, state)
        # Both labels at once: after a rollback the stable label never moved, so it says
        # nothing about whether the server has read the config without the canary yet.
        self.wait_for(
            lambda: (
                self.served_version(rollout_settings.STABLE_LABEL) == state.stable
                and self.served_version(rollout_settings.CANARY_LABEL) is None
            ),
            f"the server to serve version {state.stable} as stable and no canary",
        )
        return state
