"""The model server and canary router in-process on free ports, for a release run without
``--server``/``--router`` (tests, the self-contained demo)."""

from __future__ import annotations

from contextlib import ExitStack

from rollout.canary.manager import RolloutManager
from rollout.release.outcome import say


def start_serving(stack: ExitStack, manager: RolloutManager) -> tuple[str, str]:
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
        model_name=manager.model_name,
    )
    stack.callback(router.stop)
    router.start()
    say(
        f"model server REST {server.rest_url} gRPC {server.grpc_target}; "
        f"router REST {router.rest_url} gRPC {router.grpc_target}"
    )
    return server.rest_url, router.rest_url
