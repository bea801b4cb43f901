"""One loaded model version: the SavedModel, its signatures, and a count of the requests
using it.

A version being retired stops taking new requests at once but is only dropped when the
last request holding it has finished, so an unload never fails a request in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from serving.batching import Batcher, BatchingOptions
from serving.errors import invalid
from serving.signatures import (
    DEFAULT_SIGNATURE,
    Signature,
    check_inputs,
    parse_signatures,
    read_signature_defs,
)

# TF Serving's ModelVersionStatus states.
START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


class Servable:
    """A model version; :meth:`load` it, :meth:`lease` it per request, :meth:`retire` it."""

    def __init__(self, name: str, version: int, path: Path,
                 batching: BatchingOptions | None = None,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.name, self.version, self.path = name, version, Path(path)
        self.state = START
        self.error = ""
        self.signature_def_map = None
        self.signatures: dict[str, Signature] = {}
        self._model = None
        self._batching = batching
        self._on_batch = on_batch
        self._batchers: dict[str, Batcher] = {}
        self._in_flight = 0
        self._cv = threading.Condition()
        self.loaded_at = 0.0

    # -- lifecycle --------------------------------------------------------------------------
    def load(self) -> None:
        """Load the SavedModel (raises on failure, leaving state END with the error)."""
        import tensorflow as tf

        self.state = LOADING
        try:
            self.signature_def_map = read_signature_defs(self.path)
            self.signatures = parse_signatures(self.signature_def_map)
            self._model = tf.saved_model.load(str(self.path), tags=["serve"])
            missing = set(self.signatures) - set(self._model.signatures.keys())
            if missing:
                raise ValueError(f"signatures {sorted(missing)} not callable after load")
        except Exception as exc:
            self.state, self.error, self._model = END, f"{type(exc).__name__}: {exc}", None
            raise
        self.loaded_at = time.time()
        self.state = AVAILABLE

    def try_acquire(self) -> bool:
        """Count one more request in flight, unless the version is no longer available."""
        with self._cv:
            if self.state != AVAILABLE:
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        with self._cv:
            self._in_flight -= 1
            self._cv.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def retire(self, timeout: float | None = None) -> bool:
        """Refuse new requests, wait for in-flight ones, then drop the model (state END)."""
        with self._cv:
            if self.state == AVAILABLE:
                self.state = UNLOADING
            ok = self._cv.wait_for(lambda: self._in_flight == 0, timeout)
            if not ok:
                return False
            self.state = END
            batchers, self._batchers = self._batchers, {}
            self._model = None
        for b in batchers.values():
            b.close()
        return True

    # -- inference --------------------------------------------------------------------------
    def signature(self, name: str | None) -> Signature:
        name = name or DEFAULT_SIGNATURE
        sig = self.signatures.get(name)
        if sig is None:
            raise invalid(f"Serving signature name: \"{name}\" not found in signature def; "
                          f"available: {sorted(self.signatures)}")
        return sig

    def run(self, sig: Signature, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check ``inputs`` against the signature and run it (through the batcher if on)."""
        check_inputs(sig, inputs)
        if self._batching is None:
            return self._call(sig.name, inputs)
        with self._cv:
            batcher = self._batchers.get(sig.name)
            if batcher is None:
                batcher = self._batchers[sig.name] = Batcher(
                    lambda x, n=sig.name: self._call(n, x), self._batching, self._on_batch)
        return batcher.run(inputs)

    def _call(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        model = self._model
        if model is None:
            raise RuntimeError(f"{self.name} v{self.version} is not loaded")
        fn = model.signatures[signature_name]
        out = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in out.items()}


@contextmanager
def leased(servable: Servable):
    """Hold ``servable`` (already acquired) for the duration of a request."""
    try:
        yield servable
    finally:
        servable.release()
