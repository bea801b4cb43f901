"""A SavedModel loaded the way TF Serving loads it: into a TensorFlow session.

TF Serving runs every request as ``Session::Run(feeds, fetches)`` on the signature's tensor
names, for TF1 and TF2 SavedModels alike. Doing the same here (through the session's
callable API) gives TF Serving's semantics for free: TensorFlow, not a Python wrapper,
decides whether an input's shape and dtype can run (a ``[1]`` input on a ``[-1,1]``
placeholder runs, a float fed to a uint8 placeholder is TensorFlow's INVALID_ARGUMENT),
``RunOptions.timeout_in_ms`` gives DEADLINE_EXCEEDED, and the session's ConfigProto carries
``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism``. It is also
several times cheaper per call than an eager signature call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from serving.errors import InvalidArgument, tf_message

# A session callable: the feeds' arrays in, the fetched arrays out (in ``fetches`` order).
_Callable = Callable[..., list[np.ndarray]]


class LoadedModel:
    """One SavedModel in its own graph and session; thread-safe :meth:`run`."""

    def __init__(
        self, path: Path | str, tags: Sequence[str] = ("serve",), session_config=None
    ) -> None:
        import tensorflow as tf

        self.path = Path(path)
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph, config=session_config)
        try:
            with self._graph.as_default():
                self.meta_graph = tf.compat.v1.saved_model.loader.load(
                    self._session, list(tags), str(self.path)
                )
        except Exception:
            self._session.close()
            raise
        self._callables: dict[tuple, _Callable] = {}
        self._lock = threading.Lock()

    def run(
        self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str], timeout_ms: int = 0
    ) -> list[np.ndarray]:
        """``Session::Run``: arrays fed to tensor names, fetched tensors in ``fetches`` order.

        Raises ``tf.errors.OpError`` subclasses exactly as TensorFlow reports them.
        """
        names = tuple(feeds)
        key = (names, tuple(fetches), int(timeout_ms))
        fn = self._callables.get(key)
        if fn is None:
            fn = self._make_callable(key)
        try:
            return fn(*(feeds[n] for n in names))
        except UnicodeDecodeError as exc:
            # TensorFlow's error quoted request bytes (a PNG fed to a tf.Example parser) and
            # the C++ -> Python conversion of its message failed: its text is exc.object.
            # Such messages come from checks of the request's values: the client's error.
            raise InvalidArgument(tf_message(exc.object)) from None

    def _make_callable(self, key: tuple) -> _Callable:
        from tensorflow.core.protobuf import config_pb2

        names, fetches, timeout_ms = key
        with self._lock:
            fn = self._callables.get(key)
            if fn is None:
                options = config_pb2.CallableOptions(feed=list(names), fetch=list(fetches))
                if timeout_ms > 0:
                    options.run_options.timeout_in_ms = timeout_ms
                # The raw callable: no Python-side shape check or dtype cast, like C++.
                fn = self._session._make_callable_from_options(options)
                if len(self._callables) < 256:  # bounded: keys come from requests
                    self._callables[key] = fn
        return fn

    def close(self) -> None:
        with self._lock:
            self._callables.clear()
        self._session.close()


def session_config(intra_op: int = 0, inter_op: int = 0, base=None):
    """The ConfigProto TF Serving builds from its parallelism flags (0: TF decides)."""
    from tensorflow.core.protobuf import config_pb2

    config = config_pb2.ConfigProto()
    if base is not None:
        config.CopyFrom(base)
    if intra_op:
        config.intra_op_parallelism_threads = intra_op
    if inter_op:
        config.inter_op_parallelism_threads = inter_op
    return config
