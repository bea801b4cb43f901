"""Server-side batching (``--enable_batching``), shaped like TF Serving's batch scheduler.

Concurrent calls to one model version with the same feeds and fetches queue up; each of
``num_batch_threads`` workers takes what is queued (up to ``max_batch_size`` rows), waits
at most ``batch_timeout_micros`` for more, runs one merged call and splits the outputs
back. With TF Serving's default timeout of 0 a batch never waits: requests merge only when
they would otherwise queue behind a busy worker, which is exactly when merging pays (many
small concurrent requests). ``allowed_batch_sizes`` pads a merged batch up to the next
allowed size; a request bigger than ``max_batch_size`` fails as in TF Serving unless
``enable_large_batch_splitting`` (then it runs on its own). Requests whose inputs cannot be
stacked (different inner shapes or dtypes) are batched separately. If a merged call fails,
its requests are retried one by one, so one bad request cannot fail its neighbours.

``--batching_parameters_file`` is TF Serving's ``BatchingParameters`` text proto; the pip
package does not ship its Python module, so the message is declared here with TF
Serving's field numbers and read with text_format.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from serving.errors import Unavailable, invalid

Arrays = Mapping[str, np.ndarray]
RunFn = Callable[[Arrays], dict[str, np.ndarray]]


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's BatchingParameters (defaults: its batch scheduler's defaults)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()
    enable_large_batch_splitting: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.num_batch_threads < 1:
            raise ValueError("max_batch_size and num_batch_threads must be positive")
        if self.allowed_batch_sizes and self.allowed_batch_sizes[-1] != self.max_batch_size:
            raise ValueError(
                "Last entry in allowed_batch_sizes must match max_batch_size; "
                f"last entry was {self.allowed_batch_sizes[-1]}; expected "
                f"{self.max_batch_size}"
            )
        if list(self.allowed_batch_sizes) != sorted(set(self.allowed_batch_sizes)):
            raise ValueError("allowed_batch_sizes entries must be increasing")


def _parameters_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(
        name="serving_batching/session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=[wrappers.name],
    )
    msg = proto.message_type.add(name="BatchingParameters")
    f = descriptor_pb2.FieldDescriptorProto
    for name, number, wrapper in (
        ("max_batch_size", 1, "Int64Value"),
        ("batch_timeout_micros", 2, "Int64Value"),
        ("max_enqueued_batches", 3, "Int64Value"),
        ("num_batch_threads", 4, "Int64Value"),
        ("thread_pool_name", 5, "StringValue"),
        ("enable_large_batch_splitting", 8, "BoolValue"),
        ("max_execution_batch_size", 9, "Int64Value"),
    ):
        msg.field.add(
            name=name,
            number=number,
            type=f.TYPE_MESSAGE,
            label=f.LABEL_OPTIONAL,
            type_name=f".google.protobuf.{wrapper}",
        )
    msg.field.add(name="allowed_batch_sizes", number=6, type=f.TYPE_INT64, label=f.LABEL_REPEATED)
    msg.field.add(
        name="pad_variable_length_inputs", number=7, type=f.TYPE_BOOL, label=f.LABEL_OPTIONAL
    )
    pool.Add(proto)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


BatchingParameters = _parameters_class()


def parse_parameters(text: str) -> BatchingOptions:
    """A BatchingParameters text proto as options (unset fields keep the defaults)."""
    from google.protobuf import text_format

    msg = BatchingParameters()
    text_format.Parse(text, msg)
    base = BatchingOptions()
    if msg.pad_variable_length_inputs:
        raise ValueError("pad_variable_length_inputs is not supported by this server")

    def get(name: str, default):
        return getattr(msg, name).value if msg.HasField(name) else default

    return BatchingOptions(
        max_batch_size=int(get("max_batch_size", base.max_batch_size)),
        batch_timeout_micros=int(get("batch_timeout_micros", base.batch_timeout_micros)),
        max_enqueued_batches=int(get("max_enqueued_batches", base.max_enqueued_batches)),
        num_batch_threads=int(get("num_batch_threads", base.num_batch_threads)),
        allowed_batch_sizes=tuple(int(s) for s in msg.allowed_batch_sizes),
        enable_large_batch_splitting=bool(get("enable_large_batch_splitting", False)),
    )


def stack_key(inputs: Arrays) -> tuple:
    """Requests with the same key can be concatenated along axis 0."""
    return tuple(sorted((k, v.dtype.str, v.shape[1:]) for k, v in inputs.items()))


def merge(requests: list[Arrays]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Concatenate compatible requests; returns the merged inputs and each one's row count."""
    sizes = [int(next(iter(r.values())).shape[0]) for r in requests]
    keys = list(requests[0])
    return {k: np.concatenate([r[k] for r in requests], axis=0) for k in keys}, sizes


def pad(inputs: dict[str, np.ndarray], rows: int, allowed: tuple[int, ...]) -> int:
    """Pad ``inputs`` (in place) to the smallest allowed batch size >= rows; returns it."""
    target = next((s for s in allowed if s >= rows), rows)
    if target > rows:
        for k, v in inputs.items():
            inputs[k] = np.concatenate([v, np.repeat(v[-1:], target - rows, axis=0)])
    return target


def split(
    outputs: Mapping[str, np.ndarray], sizes: list[int], padded_to: int | None = None
) -> list[dict[str, np.ndarray]]:
    """Inverse of :func:`merge`: cut every output at the requests' row boundaries (padding
    rows past the last request, if any, are dropped)."""
    total = sum(sizes)
    rows = padded_to or total
    for key, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != rows:
            raise ValueError(f"output '{key}' has no batch dimension of size {total}")
    bounds = np.cumsum([0, *sizes])
    return [
        {k: v[bounds[i] : bounds[i + 1]] for k, v in outputs.items()} for i in range(len(sizes))
    ]


def batchable(inputs: Arrays) -> bool:
    return (
        bool(inputs)
        and all(v.ndim >= 1 for v in inputs.values())
        and len({v.shape[0] for v in inputs.values()}) == 1
    )


@dataclass
class _Pending:
    inputs: Arrays
    rows: int
    key: tuple
    future: Future = field(default_factory=Future)


class Batcher:
    """Merges concurrent :meth:`run` calls for one (model version, feeds, fetches)."""

    def __init__(
        self, run_fn: RunFn, options: BatchingOptions, on_batch: Callable[[int], None] | None = None
    ) -> None:
        self._run = run_fn
        self._opts = options
        self._on_batch = on_batch
        self._lock = threading.Condition()
        self._queue: list[_Pending] = []
        self._closed = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"batcher-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for t in self._threads:
            t.start()

    def run(self, inputs: Arrays) -> dict[str, np.ndarray]:
        """Run ``inputs`` (possibly merged with others); blocks until its outputs are ready."""
        if not batchable(inputs) or self._closed:
            return self._run(inputs)
        rows = int(next(iter(inputs.values())).shape[0])
        if rows > self._opts.max_batch_size:
            if not self._opts.enable_large_batch_splitting:
                raise invalid(
                    f"Task size {rows} is larger than maximum input batch size "
                    f"{self._opts.max_batch_size}"
                )
            return self._run(inputs)
        pending = _Pending(inputs, rows, stack_key(inputs))
        with self._lock:
            queued = sum(p.rows for p in self._queue)
            if queued + rows > self._opts.max_enqueued_batches * self._opts.max_batch_size:
                raise Unavailable(
                    "The batch scheduling queue to which this session belongs is full",
                )
            self._queue.append(pending)
            self._lock.notify()
        return pending.future.result()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for t in self._threads:
            t.join(timeout=5)

    def _take(self) -> list[_Pending] | None:
        """Wait for a first request, then up to the timeout for company (or a full batch)."""
        with self._lock:
            while not self._queue and not self._closed:
                self._lock.wait()
            if self._closed and not self._queue:
                return None
            key = self._queue[0].key
            deadline = time.monotonic() + self._opts.batch_timeout_micros / 1e6
            while not self._closed:
                rows = sum(p.rows for p in self._queue if p.key == key)
                left = deadline - time.monotonic()
                if rows >= self._opts.max_batch_size or left <= 0:
                    break
                self._lock.wait(left)
            group, rest, rows = [], [], 0
            for p in self._queue:
                if p.key == key and rows + p.rows <= self._opts.max_batch_size:
                    group.append(p)
                    rows += p.rows
                else:
                    rest.append(p)
            self._queue = rest
            if rest:
                self._lock.notify()
            return group

    def _loop(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            self._execute(group)

    def _execute(self, group: list[_Pending]) -> None:
        if len(group) > 1 or self._opts.allowed_batch_sizes:
            merged, sizes = merge([p.inputs for p in group])
            size = pad(merged, sum(sizes), self._opts.allowed_batch_sizes)
            try:
                parts = split(self._run(merged), sizes, size)
            except Exception:  # retried one by one below
                parts = None
            if parts is not None:
                if self._on_batch:
                    self._on_batch(size)
                for p, out in zip(group, parts, strict=True):
                    p.future.set_result(out)
                return
        for p in group:
            try:
                out = self._run(p.inputs)
                if self._on_batch:
                    self._on_batch(p.rows)
                p.future.set_result(out)
            except Exception as exc:  # handed to the waiting request
                p.future.set_exception(exc)
