"""``grpc.health.v1.Health`` (``--enable_grpc_healthcheck_service``), for Kubernetes'
native gRPC probes and any gRPC load balancer.

The overall status (service ``""``) and each served API's status is ``SERVING`` while at least
one model version is AVAILABLE, ``NOT_SERVING`` otherwise (e.g. after a config reload that
left no model loaded), and ``NOT_SERVING`` for good once the server shuts down. A
background thread re-reads it after every file-system poll, so ``Watch`` streams see
changes without anyone asking.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# TF Serving's services a client may ask about, besides the overall "" status (the server
# adds the other APIs it serves on the port).
SERVICES = (
    "tensorflow.serving.PredictionService",
    "tensorflow.serving.ModelService",
)
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthReporter:
    """Keeps a grpc_health servicer's statuses in step with ``ready()``."""

    def __init__(
        self,
        ready: Callable[[], bool],
        wait_for_change: Callable[[float], object],
        services: Sequence[str] = SERVICES,
    ) -> None:
        self._ready = ready
        self._wait = wait_for_change  # blocks up to N seconds for the next model change
        self._names = ("", *services)
        self.servicer = health.HealthServicer()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()

    def refresh(self) -> bool:
        ready = self._ready() and not self._stop.is_set()
        status = _SERVING if ready else _NOT_SERVING
        for name in self._names:
            self.servicer.set(name, status)
        return ready

    def add_to_server(self, server: grpc.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)
        self._thread = threading.Thread(target=self._loop, name="grpc-health", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wait(1.0)
            if not self._stop.is_set():
                self.refresh()

    def stop(self) -> None:
        """NOT_SERVING from now on (Watch streams are told), then stop the thread."""
        self._stop.set()
        self.servicer.enter_graceful_shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
