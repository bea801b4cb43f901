"""serving.heap: loaded objects leave the collector's scans; earlier cyclic garbage is freed."""

from __future__ import annotations

import gc
import weakref

from serving import heap


class _Node:
    pass


def test_freeze_collects_cycles_first_then_freezes_survivors():
    cycle = _Node()
    cycle.self = cycle
    dead = weakref.ref(cycle)
    del cycle
    survivor = [_Node()]
    try:
        heap.freeze_long_lived()
        assert dead() is None, "cyclic garbage from before the freeze was not collected"
        assert gc.get_freeze_count() > 0
        assert survivor[0] is not None
        frozen = gc.get_freeze_count()
        heap.freeze_long_lived()  # again: unfreezes, collects, freezes what is still alive
        assert gc.get_freeze_count() >= frozen - 10
    finally:
        gc.unfreeze()


def test_loading_a_version_freezes_the_objects_alive(start_server, tiny_base):
    gc.unfreeze()
    start_server(model_base_path=tiny_base(1))
    assert gc.get_freeze_count() > 100_000  # TensorFlow and the model, out of every scan
