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


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_release_unloaded_frees_frozen_garbage_and_returns_freed_pages():
    """What an unloaded version leaves: frozen cyclic garbage (freed at once, not at the next
    load) and C heap that glibc would keep for itself (handed back to the system)."""
    cycle = _Node()
    cycle.self = cycle
    dead = weakref.ref(cycle)
    gc.freeze()
    del cycle
    # ~120 MB of 4 KB blocks, every 16th kept: the freed runs between them are whole pages
    # that glibc keeps in its heap until it is asked to trim.
    blocks = [bytes(4096) for _ in range(30_000)]
    kept = blocks[::16]
    del blocks
    before = _rss_mb()
    try:
        heap.release_unloaded()
        assert dead() is None, "the frozen cycle of the unloaded version was not freed"
        assert before - _rss_mb() > 50, "freed pages were not returned to the system"
    finally:
        gc.unfreeze()
    assert len(kept) == 1875
