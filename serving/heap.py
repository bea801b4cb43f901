"""Keep Python's cyclic garbage collector off the loaded models' objects.

A process that has loaded TensorFlow and a SavedModel holds hundreds of thousands of
long-lived Python objects (650k with the reference CNN). A request that builds many
containers (a JSON body of pixel lists: ~34k lists at batch 32) soon triggers a full
collection, which walks all of them: pauses of over a second were measured, the cause of
REST JSON's p99 and of unstable throughput. After each load the live objects are moved to
the collector's permanent generation (``gc.freeze``), so full collections only walk what
requests allocate. Unfreezing and collecting first lets the cyclic garbage of versions
unloaded since the previous load be freed.

After an unload, :func:`release_unloaded` does that collection at once (the old version's
objects were frozen with the rest) and asks glibc to hand the pages it freed back to the
system (``malloc_trim``): glibc keeps freed memory in its arenas, so without it the
resident size only ever steps up as versions come and go (TF Serving's users see the same,
tensorflow/serving#1346 and #1664).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import threading
from typing import Any

_lock = threading.Lock()


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt every surviving object from later scans."""
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


@functools.cache
def _malloc_trim_function() -> Any:
    """glibc's ``malloc_trim``, looked up once (``find_library`` runs ``ldconfig`` in a
    subprocess); None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _malloc_trim() -> None:
    """glibc's ``malloc_trim(0)``; nothing where the C library has none."""
    trim = _malloc_trim_function()
    if trim is not None:
        trim(0)


def release_unloaded() -> None:
    """After a version is unloaded: free its objects now and return free C heap to the OS."""
    freeze_long_lived()
    with _lock:
        _malloc_trim()
