"""A serving stack of real processes for the chaos tests: the model server
(``python -m serving.cli``), the canary router (``cifar10-rollout route``) and releases
(``cifar10-release --skip-pipeline``), with steady client load through the router and the
checks every fault is judged by.

Small synthetic models (demos/synthetic_models.py) stand in for trained ones; they are
pushed the Pusher's way (pipeline.components.atomic_pusher.publish_atomically). The
analysis window is short so one release takes seconds.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
import yaml

from demos.loadgen import ClientView, LoadGenerator
from models import features
from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import model_config
from rollout.canary.manager import RolloutManager
from rollout.policy import load_policy
from rollout.state import RolloutState
from serving.model_paths import list_versions
from tests.support.ports import LOOPBACK, free_port
from tests.support.processes import StartedProcess, start_process
from tests.support.waiting import wait_until

LOAD_RATE = 30.0  # requests per second through the router
LOAD_WORKERS = 4
WINDOW_SECONDS = 2.0
RELEASE_TIMEOUT = 90.0  # the release's own --load-timeout
# Policy for fast releases: short windows, few canary requests per window, no latency
# guard (the machine is shared: a slow neighbour must not roll a healthy canary back) and
# no drift monitoring (no training statistics for synthetic models).
POLICY_CHANGES = {
    "analysis": {
        "window_seconds": WINDOW_SECONDS,
        "min_requests": 4,
        "max_wait_windows": 20,
        "min_latency_requests": 10**9,
        "min_feedback": 10**9,
    },
    "drift": {"enabled": False},
    "router": {"state_poll_seconds": 0.2},
}


def write_policy(path: Path) -> Path:
    raw = yaml.safe_load(rollout_settings.ROLLOUT_POLICY_PATH.read_text())
    for section, values in POLICY_CHANGES.items():
        raw[section].update(values)
    path.write_text(yaml.safe_dump(raw))
    load_policy(path)  # fails here, not in a subprocess, if the policy is invalid
    return path


@dataclass
class Counts:
    """Client requests over an interval (a difference of two views)."""

    sent: int
    failed: int

    @staticmethod
    def between(before: tuple[int, int], after: tuple[int, int]) -> Counts:
        return Counts(after[0] - before[0], after[1] - before[1])


class ChaosStack:
    """Server, router and load on ``output_root``; restartable after a kill."""

    def __init__(self, work: Path, model_source: Path) -> None:
        self.work = work
        self.output_root = work / "out"
        self.serving_root = configs.serving_root(self.output_root)
        self.model_source = model_source
        self.policy_path = write_policy(work / "policy.yaml")
        self.manager = RolloutManager(self.output_root, load_policy(self.policy_path))
        self.server_rest_port, self.server_grpc_port = free_port(), free_port()
        self.router_rest_port, self.router_grpc_port = free_port(), free_port()
        self.server: StartedProcess | None = None
        self.router: StartedProcess | None = None
        self.load: LoadGenerator | None = None
        self._starts = 0

    # --- urls ---------------------------------------------------------------------------
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
        self.server = start_process(
            [
                sys.executable,
                "-m",
                "serving.cli",
                f"--model_config_file={self.manager.config_path}",
                "--model_config_file_poll_wait_seconds=1",
                "--file_system_poll_wait_seconds=1",
                "--allow_version_labels_for_unavailable_models=true",
                f"--host={LOOPBACK}",
                f"--port={self.server_grpc_port}",
                f"--rest_api_port={self.server_rest_port}",
            ],
            self._log("server"),
            what="model server",
            cwd=configs.REPO_ROOT,
        )
        self.server.wait_ready(
            lambda: self.served_version(rollout_settings.STABLE_LABEL) is not None,
            timeout=120,
            retry_on=(requests.RequestException,),
        )
        return self.server

    def start_router(self) -> StartedProcess:
        self.router = start_process(
            [
                sys.executable,
                "-m",
                "rollout.cli",
                f"--output-root={self.output_root}",
                f"--policy={self.policy_path}",
                "route",
                f"--upstream-rest={self.server_url}",
                f"--upstream-grpc={LOOPBACK}:{self.server_grpc_port}",
                f"--rest-port={self.router_rest_port}",
                f"--grpc-port={self.router_grpc_port}",
                "--training-stats=none",
            ],
            self._log("router"),
            what="canary router",
            cwd=configs.REPO_ROOT,
        )
        self.router.wait_for_log("router: REST", timeout=120)
        return self.router

    def start_release(self) -> StartedProcess:
        """``cifar10-release`` rolling out the newest version on disk (or resuming)."""
        return start_process(
            [
                sys.executable,
                "-m",
                "rollout.release.cli",
                f"--output-root={self.output_root}",
                f"--policy={self.policy_path}",
                "--skip-pipeline",
                f"--server={self.server_url}",
                f"--router={self.router_url}",
                f"--load-timeout={RELEASE_TIMEOUT}",
            ],
            self._log("release"),
            what="cifar10-release",
            cwd=configs.REPO_ROOT,
        )

    def run_release(self, timeout: float = RELEASE_TIMEOUT + 60) -> tuple[int, str]:
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
        images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), np.uint8)
        labels = np.zeros(64, np.int64)
        self.load = LoadGenerator(
            self.router_url,
            images,
            labels,
            rate_per_second=LOAD_RATE,
            workers=LOAD_WORKERS,
            send_feedback=False,
        ).start()
        return self.load

    def client_totals(self) -> tuple[int, int]:
        """(sent, failed) so far, over every label."""
        assert self.load is not None
        view: ClientView = self.load.view
        with self.load._lock:
            return view.sent, sum(view.failed.values())

    def stop(self) -> None:
        if self.load is not None:
            self.load.stop()
        for process in (self.router, self.server):
            if process is not None:
                process.stop()

    # --- models -------------------------------------------------------------------------
    def push(self) -> int:
        """Publish a new model version the Pusher's way (staging folder, then rename), with
        content of its own (as a new training run has); returns its version. The copy has
        no SavedModel fingerprint (as older exports), which the Pusher would take for an
        already-served model."""
        import shutil
        import tempfile

        from pipeline.components.atomic_pusher import publish_atomically

        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            model = Path(tmp) / "model"
            shutil.copytree(self.model_source, model)
            (model / "fingerprint.pb").unlink(missing_ok=True)
            (model / "assets").mkdir(exist_ok=True)
            (model / "assets" / "training_run.txt").write_text(f"run at {time.time_ns()}\n")
            newest = max(list_versions(self.manager.model_dir), default=0)
            _, version = publish_atomically(str(model), str(self.manager.model_dir), newest + 1)
        return version

    # --- observations -------------------------------------------------------------------
    def state(self) -> RolloutState:
        return self.manager.state()

    def served_version(self, label: str) -> int | None:
        """The version the model server answers with for ``label`` (an OIP infer names it)."""
        body = {
            "parameters": {"signature_name": features.SIGNATURE_IMAGES},
            "inputs": [
                {
                    "name": features.INPUT_IMAGES,
                    "datatype": "UINT8",
                    "shape": [1, 32, 32, 3],
                    "data": [0] * (32 * 32 * 3),
                }
            ]
        }
        url = f"{self.server_url}/v2/models/{configs.MODEL_NAME}/versions/{label}/infer"
        answer = requests.post(url, json=body, timeout=10)
        if answer.status_code != 200:
            return None
        return int(answer.json()["model_version"])

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
        assert last.get("stable", state.stable) == state.stable, (last, state)
        self.wait_for(
            lambda: self.served_version(rollout_settings.STABLE_LABEL) == state.stable,
            f"the server's stable label to serve version {state.stable}",
        )
        assert self.served_version(rollout_settings.CANARY_LABEL) is None
        return state


def history_actions(manager: RolloutManager) -> list[str]:
    return [r["action"] for r in manager.history()]


def release_outcome(log: str) -> str:
    """The outcome line a release printed (PROMOTED / ROLLED BACK / ...)."""
    for word in ("PROMOTED", "ROLLED BACK", "DEPLOYED"):
        if word in log:
            return word
    return "none"


def dump(path: Path) -> str:
    return json.dumps(json.loads(path.read_text()), indent=1) if path.exists() else "(none)"
