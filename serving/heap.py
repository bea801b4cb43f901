"""Keep Python's cyclic garbage collector off the loaded models' objects.

A process that has loaded TensorFlow and a SavedModel holds hundreds of thousands of
long-lived Python objects (650k with the reference CNN). A request that builds many
containers (a JSON body of pixel lists: ~34k lists at batch 32) soon triggers a full
collection, which walks all of them: pauses of over a second were measured, the cause of
REST JSON's p99 and of unstable throughput. After each load the live objects are moved to
the collector's permanent generation (``gc.freeze``), so full collections only walk what
requests allocate. Unfreezing and collecting first lets the cyclic garbage of versions
unloaded since the previous load be freed.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt every surviving object from later scans."""
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
