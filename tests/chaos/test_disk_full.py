"""The disk under the serving root fills up during a push (a tmpfs the suite mounts): the
push fails with ENOSPC and leaves nothing behind, the server keeps serving stable with no
failed request, and once space is back the next push rolls out."""

from __future__ import annotations

import errno

import pytest

from demos.serving_stack import release_outcome
from tests.chaos.stack import Counts

pytestmark = pytest.mark.slow


def fill(directory, chunk: int = 1 << 16):
    """A file taking every free byte of ``directory``'s file system; its path."""
    filler = directory / "filler.bin"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * chunk)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return filler


def test_a_push_onto_a_full_disk_leaves_no_trace_and_loses_no_request(chaos):
    stable = chaos.check_consistent().stable
    versions = chaos.manager.versions_on_disk()
    before = chaos.client_totals()
    filler = fill(chaos.serving_root)
    try:
        with pytest.raises(OSError) as failed:  # shutil.Error lists each file's OSError
            chaos.push()
        assert "No space left on device" in str(failed.value), failed.value
        assert chaos.manager.versions_on_disk() == versions
        code, log = chaos.run_release()  # nothing new on disk: nothing to roll out
        assert code == 0 and "no canary" in log, log
        chaos.check_consistent()
    finally:
        filler.unlink()
    counts = Counts.between(before, chaos.client_totals())
    print(f"disk full during a push: {counts}")
    assert counts.sent > 0 and counts.failed == 0, counts
    version = chaos.push()
    code, log = chaos.run_release()
    assert code == 0 and release_outcome(log) == "PROMOTED", log
    assert chaos.check_consistent().stable == version != stable
