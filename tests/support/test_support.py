"""The test-support module itself: ports, waiting and started processes behave as promised
(a fixture built on them relies on the failure messages as much as on the happy path)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

import pytest

from tests.support.ports import accepts_connections, free_port
from tests.support.processes import ProcessExited, running_process, start_process
from tests.support.waiting import wait_until

PY = sys.executable


def test_free_port_can_be_bound_and_then_accepts_connections():
    port = free_port()
    assert not accepts_connections(port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert accepts_connections(port)


def test_wait_until_returns_the_first_truthy_value():
    calls = iter([0, [], "found"])
    assert wait_until(lambda: next(calls), "a value", timeout=5, interval=0) == "found"


def test_wait_until_names_what_it_waited_for():
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"after 0.2 s waiting for the moon"):
        wait_until(lambda: False, "the moon", timeout=0.2, interval=0.01)
    assert time.monotonic() - started < 2


def test_wait_until_retries_only_the_errors_it_is_told_to():
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError("not yet")
        return "up"

    assert wait_until(flaky, "a server", timeout=5, interval=0, retry_on=(OSError,)) == "up"

    def refused() -> None:
        raise ConnectionRefusedError("down")

    with pytest.raises(TimeoutError, match="last error: ConnectionRefusedError"):
        wait_until(refused, "a server", timeout=0.1, interval=0.01, retry_on=(OSError,))
    with pytest.raises(KeyError):
        wait_until(lambda: {}["missing"], "a key", timeout=5, retry_on=(OSError,))


def test_ready_process_is_stopped_by_its_signal_with_the_exit_code(tmp_path):
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *a: (print('bye', flush=True), sys.exit(3)))\n"
        "print('listening', flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "logs" / "server.log"
    with running_process(
        [PY, "-c", script], log, what="a toy server", stop_signal=signal.SIGINT
    ) as proc:
        proc.wait_for_log("listening", timeout=30)
        assert proc.running()
    assert proc.popen.returncode == 3
    assert "bye" in log.read_text()


def test_a_process_that_dies_while_awaited_fails_at_once_with_its_log(tmp_path):
    script = "import sys; print('config error: no such file', flush=True); sys.exit(2)"
    started = time.monotonic()
    with (
        pytest.raises(ProcessExited, match=r"(?s)a toy server exited with code 2.*no such file"),
        running_process([PY, "-c", script], tmp_path / "s.log", what="a toy server") as proc,
    ):
        proc.wait_ready(lambda: False, timeout=60)
    assert time.monotonic() - started < 30


def test_a_process_never_ready_times_out_naming_it_with_its_log(tmp_path):
    script = "import time; print('still warming up', flush=True); time.sleep(60)"
    with (
        pytest.raises(TimeoutError, match=r"(?s)waiting for a slow server to be ready.*warming"),
        running_process([PY, "-c", script], tmp_path / "s.log", what="a slow server") as proc,
    ):
        proc.wait_for_log("still warming up", timeout=30)
        proc.wait_ready(lambda: False, timeout=0.5)
    assert not proc.running()


def test_a_process_ignoring_its_stop_signal_is_killed_in_bounded_time(tmp_path):
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = start_process([PY, "-c", script], tmp_path / "s.log", what="stubborn", stop_timeout=0.5)
    proc.wait_for_log("up", timeout=30)
    started = time.monotonic()
    assert proc.stop() == -signal.SIGKILL
    assert time.monotonic() - started < 10


def test_own_session_stop_reaches_children_in_their_own_process_groups(tmp_path):
    # The child leaves its parent's process group (as Airflow's task runners do); stopping
    # the session must still end it.
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " process_group=0) if sys.version_info >= (3, 11) else subprocess.Popen("
        "[sys.executable, '-c', 'import time; time.sleep(60)'], preexec_fn=os.setpgrp)\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with running_process(
        [PY, "-c", script], tmp_path / "s.log", what="a parent", own_session=True
    ) as proc:
        line = proc.wait_ready(
            lambda: next((x for x in proc.log_text().splitlines() if x.startswith("child")), None),
            timeout=30,
        )
        child = int(line.split()[1])
        assert os.getsid(child) == proc.pid
    wait_until(lambda: not _alive(child), "the child to be gone", timeout=10)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie whose parent is gone counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
