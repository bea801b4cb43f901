"""Drift sampling off the router's event loop.

Decoding a sampled request's images (PNG, tf.Example), binning its pixels, computing the
drift signals and, on an alert, fsync-ing the alert log and the retrain request all block.
On the event loop they would stall every request in flight behind them, so the router only
hands a sample over (:meth:`DriftSampler.submit`, constant time) and one worker thread does
the work, in arrival order, against the (thread-safe) :class:`~rollout.drift.monitor.DriftMonitor`.

The hand-over queue is bounded: when the worker falls behind, new samples are dropped
(counted in ``dropped``) rather than queued without limit; drift is a statistic over a
window, and a sample is a sample.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rollout.drift.monitor import DriftMonitor, DriftReading
from serving.errors import ServingError

log = logging.getLogger(__name__)

THREAD_NAME = "drift-sampler"


@dataclass(frozen=True)
class Sample:
    """One sampled request, still undecoded: the closures run on the worker."""

    images: Callable[[], np.ndarray | None]
    probabilities: Callable[[], np.ndarray | None] | None
    version: int | None


class DriftSampler:
    """Feeds samples to ``monitor`` on a worker thread; ``on_added(images, monitor.last)``
    runs there after each sample (the router updates its drift gauges from it)."""

    def __init__(
        self,
        monitor: DriftMonitor,
        on_added: Callable[[int, DriftReading | None], None] | None = None,
        max_pending: int = 64,
    ) -> None:
        self.monitor = monitor
        self.on_added = on_added
        self.dropped = 0
        self._queue: queue.Queue[Sample | None] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker after the sample in hand; samples still queued are dropped."""
        if self._thread is None:
            return
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def submit(self, sample: Sample) -> bool:
        """Queue ``sample`` without blocking; False when the worker is behind (dropped)."""
        try:
            self._queue.put_nowait(sample)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def _work(self) -> None:
        while (sample := self._queue.get()) is not None:
            try:
                images, served = self._decode(sample)
            except (ServingError, ValueError, OSError) as e:  # a payload we cannot read
                log.debug("drift sample skipped: %s", e)
                continue
            if images is None:
                continue
            try:
                self.monitor.add(images, served, sample.version)
                if self.on_added is not None:
                    self.on_added(len(images), self.monitor.last)
            except Exception:  # e.g. the alert log is not writable: say so, keep sampling
                log.warning("drift sample failed", exc_info=True)

    @staticmethod
    def _decode(sample: Sample) -> tuple[np.ndarray | None, np.ndarray | None]:
        images = sample.images()
        if images is None or not len(images):
            return None, None
        served = sample.probabilities() if sample.probabilities is not None else None
        if served is not None and len(served) != len(images):
            served = None
        return images, served
