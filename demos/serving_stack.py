"""The serving stack as separate processes, for the chaos tests (tests/chaos) and the soak
(bench/soak.py): the command lines of the model server, the canary router and a release,
a policy for releases that take seconds, a push of a new synthetic model version the
Pusher's way, and what the server serves under a label. One home, so the soak runs exactly
what the chaos tests break."""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
import yaml

from models import features
from models.dataset import CIFAR10
from pipeline import configs
from rollout import settings as rollout_settings
from serving.model_paths import list_versions

LOOPBACK = "127.0.0.1"
# A policy for fast releases: short windows, few canary requests per window, no latency
# guard (the machine is shared: a slow neighbour must not roll a healthy canary back), no
# accuracy check and no drift monitoring (no training statistics for synthetic models).
FAST_POLICY_CHANGES = {
    "analysis": {
        "window_seconds": 3.0,
        # 10 or more: with 4 requests a healthy canary that answers 3 with one class
        # looked "collapsed" (75 % > 60 %) now and then
        "min_requests": 10,
        "max_wait_windows": 20,
        "min_latency_requests": 10**9,
        "min_feedback": 10**9,
    },
    "drift": {"enabled": False},
    "router": {"state_poll_seconds": 0.2},
}
OUTCOMES = ("PROMOTED", "ROLLED BACK", "DEPLOYED")
LOAD_IMAGES = 64


def spread_images(n: int = LOAD_IMAGES) -> np.ndarray:
    """``n`` images of evenly spread brightness (plus a little noise): the synthetic
    ``brightness`` model answers them with every class about equally often, so a healthy
    canary never looks collapsed onto one class."""
    rng = np.random.default_rng(0)
    levels = np.linspace(0, 255, n).reshape(n, 1, 1, 1)
    noise = rng.integers(-8, 9, (n, *CIFAR10.image_shape))
    return np.clip(levels + noise, 0, 255).astype(np.uint8)


def write_fast_policy(path: Path) -> Path:
    """The shipped policy with :data:`FAST_POLICY_CHANGES`, checked by loading it."""
    from rollout.policy import load_policy

    raw = yaml.safe_load(rollout_settings.ROLLOUT_POLICY_PATH.read_text())
    for section, values in FAST_POLICY_CHANGES.items():
        raw[section].update(values)
    path.write_text(yaml.safe_dump(raw))
    load_policy(path)  # an invalid policy fails here, not in a started process
    return path


def server_command(
    model_config: Path, grpc_port: int, rest_port: int, extra: list[str] = ()
) -> list[str]:
    """The model server on the rollout's model config, polling it and the disk every
    second, labels allowed before their version loads (as cifar10-serve sets)."""
    return [
        sys.executable,
        "-m",
        "serving.cli",
        f"--model_config_file={model_config}",
        "--model_config_file_poll_wait_seconds=1",
        "--file_system_poll_wait_seconds=1",
        "--allow_version_labels_for_unavailable_models=true",
        f"--host={LOOPBACK}",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        *extra,
    ]


def router_command(
    output_root: Path,
    policy: Path,
    server_rest_port: int,
    server_grpc_port: int,
    rest_port: int,
    grpc_port: int,
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rollout.cli",
        f"--output-root={output_root}",
        f"--policy={policy}",
        "route",
        f"--upstream-rest=http://{LOOPBACK}:{server_rest_port}",
        f"--upstream-grpc={LOOPBACK}:{server_grpc_port}",
        f"--rest-port={rest_port}",
        f"--grpc-port={grpc_port}",
        "--training-stats=none",
    ]


ROUTER_READY_LINE = "router: REST"  # what the router prints once both ports are bound


def release_command(
    output_root: Path, policy: Path, server_url: str, router_url: str, load_timeout: float
) -> list[str]:
    """``cifar10-release`` rolling out the newest version on disk (or resuming a rollout)."""
    return [
        sys.executable,
        "-m",
        "rollout.release.cli",
        f"--output-root={output_root}",
        f"--policy={policy}",
        "--skip-pipeline",
        f"--server={server_url}",
        f"--router={router_url}",
        f"--load-timeout={load_timeout:g}",
    ]


def push_new_version(model_source: Path, model_dir: Path, scratch: Path) -> int:
    """Publish ``model_source`` as the next version the Pusher's way (a staging folder,
    then a rename), with content of its own as a new training run has; its version.

    The copy has no SavedModel fingerprint (as older exports), which the Pusher would take
    for an already-served model."""
    from pipeline.components.atomic_pusher import publish_atomically

    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        model = Path(tmp) / "model"
        shutil.copytree(model_source, model)
        (model / "fingerprint.pb").unlink(missing_ok=True)
        (model / "assets").mkdir(exist_ok=True)
        (model / "assets" / "training_run.txt").write_text(f"run at {time.time_ns()}\n")
        newest = max(list_versions(model_dir), default=0)
        _, version = publish_atomically(str(model), str(model_dir), newest + 1)
    return version


def served_version(server_url: str, label: str) -> int | None:
    """The version the model server answers with for ``label`` (an OIP infer names it);
    None when it does not serve the label."""
    body = {
        "parameters": {"signature_name": features.SIGNATURE_IMAGES},
        "inputs": [
            {
                "name": features.INPUT_IMAGES,
                "datatype": "UINT8",
                "shape": [1, *CIFAR10.image_shape],
                "data": [0] * math.prod(CIFAR10.image_shape),
            }
        ],
    }
    url = f"{server_url}/v2/models/{configs.MODEL_NAME}/versions/{label}/infer"
    answer = requests.post(url, json=body, timeout=10)
    if answer.status_code != 200:
        return None
    return int(answer.json()["model_version"])


def release_outcome(log: str) -> str:
    """The outcome a release printed (PROMOTED / ROLLED BACK / DEPLOYED), or "none"."""
    return next((word for word in OUTCOMES if word in log), "none")
