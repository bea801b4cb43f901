"""Server-side batching: concurrent requests for one model version and signature are merged
into a single model call and the outputs split back (``--enable_batching``).

A request waits at most ``window_ms`` for company, and a merged call holds at most
``max_batch_size`` rows. Requests whose inputs cannot be stacked (other keys, dtypes or
inner shapes) run in their own call. If a merged call fails, its requests are retried one
by one, so a single bad request cannot fail its neighbours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

Arrays = Mapping[str, np.ndarray]
RunFn = Callable[[Arrays], dict[str, np.ndarray]]


@dataclass(frozen=True)
class BatchingOptions:
    window_ms: float = 2.0
    max_batch_size: int = 64


def stack_key(inputs: Arrays) -> tuple:
    """Requests with the same key can be concatenated along axis 0."""
    return tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))


def merge(requests: list[Arrays]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Concatenate compatible requests; returns the merged inputs and each one's row count."""
    sizes = [int(next(iter(r.values())).shape[0]) for r in requests]
    keys = list(requests[0])
    return {k: np.concatenate([r[k] for r in requests], axis=0) for k in keys}, sizes


def split(outputs: Mapping[str, np.ndarray], sizes: list[int]) -> list[dict[str, np.ndarray]]:
    """Inverse of :func:`merge`: cut every output at the requests' row boundaries."""
    total = sum(sizes)
    for key, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != total:
            raise ValueError(f"output '{key}' has no batch dimension of size {total}")
    bounds = np.cumsum([0, *sizes])
    return [{k: v[bounds[i]:bounds[i + 1]] for k, v in outputs.items()}
            for i in range(len(sizes))]


def batchable(inputs: Arrays) -> bool:
    return bool(inputs) and all(v.ndim >= 1 for v in inputs.values()) and len(
        {v.shape[0] for v in inputs.values()}) == 1


@dataclass
class _Pending:
    inputs: Arrays
    rows: int
    future: Future = field(default_factory=Future)


class Batcher:
    """Merges concurrent :meth:`run` calls for one (model version, signature)."""

    def __init__(self, run_fn: RunFn, options: BatchingOptions,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self._run = run_fn
        self._opts = options
        self._on_batch = on_batch
        self._lock = threading.Condition()
        self._queue: list[_Pending] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="batcher", daemon=True)
        self._thread.start()

    def run(self, inputs: Arrays) -> dict[str, np.ndarray]:
        """Run ``inputs`` (possibly merged with others); blocks until its outputs are ready."""
        if not batchable(inputs) or self._closed:
            return self._run(inputs)
        pending = _Pending(inputs, int(next(iter(inputs.values())).shape[0]))
        if pending.rows >= self._opts.max_batch_size:
            return self._run(inputs)
        with self._lock:
            self._queue.append(pending)
            self._lock.notify()
        return pending.future.result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout=5)

    def _take(self) -> list[_Pending] | None:
        """Wait for a first request, then up to the window for more (or a full batch)."""
        with self._lock:
            while not self._queue and not self._closed:
                self._lock.wait()
            if self._closed and not self._queue:
                return None
            deadline = time.monotonic() + self._opts.window_ms / 1000.0
            while (sum(p.rows for p in self._queue) < self._opts.max_batch_size
                   and not self._closed):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            taken, rows = [], 0
            while self._queue and (not taken or rows + self._queue[0].rows
                                   <= self._opts.max_batch_size):
                item = self._queue.pop(0)
                taken.append(item)
                rows += item.rows
            return taken

    def _loop(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            groups: dict[tuple, list[_Pending]] = {}
            for p in taken:
                groups.setdefault(stack_key(p.inputs), []).append(p)
            for group in groups.values():
                # Run each merged call on its own thread so the next window can fill meanwhile.
                threading.Thread(target=self._execute, args=(group,), daemon=True).start()

    def _execute(self, group: list[_Pending]) -> None:
        if len(group) > 1:
            try:
                merged, sizes = merge([p.inputs for p in group])
                parts = split(self._run(merged), sizes)
            except Exception:  # noqa: BLE001 - retried one by one below to isolate the culprit
                parts = None
            if parts is not None:
                if self._on_batch:
                    self._on_batch(sum(sizes))
                for p, out in zip(group, parts, strict=True):
                    p.future.set_result(out)
                return
        for p in group:
            try:
                out = self._run(p.inputs)
                if self._on_batch:
                    self._on_batch(p.rows)
                p.future.set_result(out)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                p.future.set_exception(exc)
