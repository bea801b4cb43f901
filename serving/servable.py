"""One model version: the SavedModel in its session, its signatures, warmup, and a count
of the requests using it.

A version being retired stops taking new requests at once but is only dropped when the
last request holding it has finished, so an unload never fails a request in flight. With
warmup on, the requests recorded in ``assets.extra/tf_serving_warmup_requests`` are
replayed before the version turns AVAILABLE (TF Serving's model warmup; the model manager
hands it to :meth:`Servable.load`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serving import heap
from serving.batching import Batcher, BatchingOptions, batchable, parse_parameters
from serving.errors import from_exception
from serving.model_paths import BATCHING_PARAMS_FILE
from serving.signatures import Signature, parse_signatures, signature_def_map

if TYPE_CHECKING:  # for the annotations only; load() imports them when it loads a version
    from serving.runtime import LoadedModel
    from serving.tflite import TfliteModel


# TF Serving's ModelVersionStatus states.
START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"


@dataclass(frozen=True)
class LoadOptions:
    """How versions are loaded (TF Serving's SessionBundleConfig, the parts used here)."""

    tags: tuple[str, ...] = ("serve",)
    session_config: object = None  # a tf ConfigProto, or None for TF's defaults
    batching: BatchingOptions | None = None
    enable_warmup: bool = True
    warmup_iterations: int = 1
    method_check: bool = False  # --enable_signature_method_name_check
    per_model_batching: bool = False  # --enable_per_model_batching_parameters
    prefer_tflite: bool = False  # --prefer_tflite_model: serve model.tflite when present
    tflite_pools: int = 1  # --num_tflite_pools
    tflite_interpreters_per_pool: int = 1  # --num_tflite_interpreters_per_pool


class Servable:
    """A model version; :meth:`load` it, lease it per request, :meth:`retire` it."""

    def __init__(
        self,
        name: str,
        version: int,
        path: Path,
        options: LoadOptions | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.name, self.version, self.path = name, version, Path(path)
        self.options = options or LoadOptions()
        self.state = START
        self.error = ""
        self.error_code = "OK"
        self.signature_def_map: Any = None  # a SignatureDefMap proto once loaded
        self.signatures: dict[str, Signature] = {}
        self._model: LoadedModel | TfliteModel | None = None
        self.batching: BatchingOptions | None = self.options.batching
        self._on_batch = on_batch
        self._batchers: dict[tuple, Batcher] = {}
        self._in_flight = 0
        self._cv = threading.Condition()
        self.loaded_at = 0.0

    # -- lifecycle --------------------------------------------------------------------------
    def load(self, warm_up: Callable[[Servable], object] | None = None) -> None:
        """Load the SavedModel, run ``warm_up`` on it, then turn AVAILABLE (raises on
        failure: state END, error kept for status calls).

        The model manager passes :func:`serving.warmup.replay` as ``warm_up``: warmup runs
        inference code, which sits above this module, so it is handed in, never imported.
        """
        from serving.model_paths import TFLITE_FILE

        self.state = LOADING
        try:
            options = self.options
            model: LoadedModel | TfliteModel
            if options.prefer_tflite and (self.path / TFLITE_FILE).is_file():
                from serving.tflite import TfliteModel

                model = TfliteModel(
                    self.path, options.tflite_pools, options.tflite_interpreters_per_pool
                )
            else:
                from serving.runtime import LoadedModel

                model = LoadedModel(self.path, options.tags, options.session_config)
            self._model = model
            self.batching = self._batching_options()
            self.signature_def_map = signature_def_map(model.meta_graph)
            self.signatures = parse_signatures(self.signature_def_map)
            if warm_up is not None:
                warm_up(self)
        except Exception as exc:
            self.fail(exc)
            raise
        self.loaded_at = time.time()
        self.state = AVAILABLE

    def _batching_options(self) -> BatchingOptions | None:
        """The server's batching options, or with --enable_per_model_batching_parameters the
        version's own ``batching_params.pbtxt`` when it has one (a bad one fails the load)."""
        options = self.options
        own = self.path / BATCHING_PARAMS_FILE
        if options.batching is None or not options.per_model_batching or not own.is_file():
            return options.batching
        return parse_parameters(own.read_text())

    def fail(self, exc: BaseException) -> None:
        """Loading or warmup failed: keep the error for status calls, drop the model (END)."""
        err = from_exception(exc)
        self.error_code = err.code if err.code != "OK" else "UNKNOWN"
        self.error = err.message
        self._close_model()
        self.state = END

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
        for b in batchers.values():
            b.close()
        self._close_model()
        heap.release_unloaded()  # else glibc keeps the pages and RSS steps up per reload
        return True

    def _close_model(self) -> None:
        model, self._model = self._model, None
        if model is not None:
            model.close()

    # -- inference --------------------------------------------------------------------------
    def run(
        self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str], timeout_ms: int = 0
    ) -> list[np.ndarray]:
        """Session::Run on this version (through the batcher when batching is on)."""
        model = self._model
        if model is None:
            raise RuntimeError(f"{self.name} v{self.version} is not loaded")
        batching = self.batching
        if batching is None or not batchable(feeds):
            return model.run(feeds, fetches, timeout_ms)
        key = (tuple(sorted(feeds)), tuple(fetches), timeout_ms)
        batcher = self._batchers.get(key)
        if batcher is None:
            with self._cv:
                batcher = self._batchers.get(key)
                if batcher is None:

                    def call(x, f=tuple(fetches), t=timeout_ms):
                        return dict(zip(f, model.run(x, f, t), strict=True))

                    batcher = self._batchers[key] = Batcher(call, batching, self._on_batch)
        out = batcher.run(feeds)
        return [out[f] for f in fetches]
