"""One chaos stack for the whole package: a tmpfs the test mounts as the serving root (so
the disk can be filled), a stable synthetic model, the model server and router processes,
and steady client load through the router. Each case leaves it with no rollout in progress
and every killed process restarted, so the next case starts from a clean release."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from rollout.release.outcome import ACTOR
from tests.chaos.stack import ChaosStack
from tests.system_deps import require_binary, skip_or_fail

SERVING_TMPFS_SIZE = "16m"


def mount_tmpfs(path, size: str) -> None:
    mount = require_binary("mount", "mount")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs at {path} (needs root or CAP_SYS_ADMIN): {done.stderr}")


@pytest.fixture(scope="package")
def chaos(tmp_path_factory):
    from demos.synthetic_models import write_model

    if os.geteuid() != 0:
        skip_or_fail("the chaos tests mount a tmpfs: run them as root")
    work = tmp_path_factory.mktemp("chaos")
    model = write_model(work / "brightness", "brightness")
    stack = ChaosStack(work, model)
    mount_tmpfs(stack.serving_root, SERVING_TMPFS_SIZE)
    try:
        first = stack.push()
        stack.manager.init(first, actor=ACTOR, reason="chaos suite's first stable")
        stack.start_server()
        stack.start_router()
        stack.start_load()
        yield stack
    finally:
        stack.stop()
        subprocess.run(["umount", "-l", str(stack.serving_root)], check=False)
        shutil.rmtree(work / "out", ignore_errors=True)
