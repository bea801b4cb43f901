"""A small load generator: real CIFAR-10 test images through the router's REST API, as
many simulated clients (each with its own sticky client key), reporting labelled feedback.

It stands in for production traffic in the demo and the end-to-end tests, and counts what
clients saw per served label, so "no failed request on stable" is checked from the client
side rather than from the router's own metrics.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import requests

from models import features
from pipeline import configs
from rollout import settings as rollout_settings
from rollout.serving_client import model_path


@dataclass
class ClientView:
    """What the clients saw per served label: responses and failures.

    No accuracy here: the clients send their labelled feedback to the router, and the
    canary analysis reports accuracy from it (one figure, one source; a second, client-side
    figure over a different span of requests disagreed with it in the demo's output)."""

    sent: int = 0
    served: Counter = field(default_factory=Counter)  # label -> responses
    failed: Counter = field(default_factory=Counter)  # label -> failed responses

    def line(self) -> str:
        parts = [f"sent={self.sent}"]
        for label in sorted(self.served):
            parts.append(f"{label}: {self.served[label]} served, {self.failed[label]} failed")
        return "  ".join(parts)


class LoadGenerator:
    def __init__(
        self,
        router_url: str,
        images: np.ndarray,
        labels: np.ndarray,
        rate_per_second: float = 20.0,
        workers: int = 4,
        clients: int = 200,
        model: str = configs.MODEL_NAME,
        seed: int = 0,
        send_feedback: bool = True,
    ) -> None:
        self.url = router_url.rstrip("/")
        self.images, self.labels = images, labels
        self.rate = rate_per_second
        self.workers = workers
        self.clients = clients
        self.model = model
        self.seed = seed
        self.send_feedback = send_feedback
        self.view = ClientView()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> LoadGenerator:
        self._stop.clear()
        for i in range(self.workers):
            t = threading.Thread(target=self._work, args=(i,), name=f"loadgen-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> ClientView:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()
        return self.view

    def _work(self, worker: int) -> None:
        rng = np.random.default_rng(self.seed + worker)
        session = requests.Session()
        interval = self.workers / self.rate if self.rate > 0 else 0.0
        feedback: list[dict] = []
        next_at = time.monotonic()
        while not self._stop.is_set():
            i = int(rng.integers(len(self.images)))
            key = f"client-{int(rng.integers(self.clients))}"
            body = {
                "signature_name": features.SIGNATURE_IMAGES,
                "instances": [{features.INPUT_IMAGES: self.images[i].tolist()}],
            }
            label, ok, predicted, version = "unreachable", False, None, None
            try:
                response = session.post(
                    self.url + model_path(self.model, "predict"),
                    json=body,
                    headers={rollout_settings.CLIENT_KEY_HEADER: key},
                    timeout=30,
                )
                label = response.headers.get(rollout_settings.SERVED_LABEL_HEADER, "unknown")
                version = response.headers.get(rollout_settings.SERVED_VERSION_HEADER)
                ok = response.status_code == 200
                if ok:
                    predicted = int(response.json()["predictions"][0][features.OUTPUT_CLASS_IDS])
            except (requests.RequestException, ValueError, KeyError, IndexError):
                ok = False
            correct = predicted is not None and predicted == int(self.labels[i])
            with self._lock:
                self.view.sent += 1
                self.view.served[label] += 1
                self.view.failed[label] += 0 if ok else 1
            if self.send_feedback and ok and version is not None:
                feedback.append({"label": label, "version": version, "correct": correct})
                if len(feedback) >= 10:
                    self._post_feedback(session, feedback)
                    feedback = []
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()

    def _post_feedback(self, session: requests.Session, items: list[dict]) -> None:
        try:
            session.post(self.url + rollout_settings.FEEDBACK_PATH, json=items, timeout=10)
        except requests.RequestException:
            pass
