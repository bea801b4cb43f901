"""The rollout layer's settings: version labels, the router's ports and routing key, where
the rollout keeps its state and its policy.

TF Serving's own conventions (ports, paths, file names) come from ``serving.defaults``;
the pipeline's output layout from ``pipeline.configs``.
"""

from __future__ import annotations

from pathlib import Path

from pipeline import configs
from serving import defaults as serving_defaults

STABLE_LABEL = "stable"
CANARY_LABEL = "canary"
ROUTER_GRPC_PORT = 8600  # the canary router in front of the model server
ROUTER_REST_PORT = 8601
CLIENT_KEY_HEADER = "x-client-key"  # sticky routing key (REST header / gRPC metadata)
# What the router tells clients (REST headers; the label also as gRPC initial metadata)
SERVED_LABEL_HEADER = "x-served-label"
SERVED_VERSION_HEADER = "x-served-version"
FEEDBACK_PATH = "/rollout/feedback"  # the router's REST endpoint for labelled outcomes
ROLLOUT_POLICY_PATH = Path(__file__).resolve().parent / "policy.yaml"


def rollout_state_dir(output_root: Path) -> Path:
    """Rollout state (current step) and the append-only decision history."""
    return Path(output_root) / "rollout"


def model_config_path(output_root: Path) -> Path:
    """The TF Serving model config file the rollout tool writes and the servers poll."""
    return configs.serving_root(output_root) / serving_defaults.MODEL_CONFIG_FILENAME
