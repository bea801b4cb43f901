"""worker_hosts.py: a worker host has its own hostname and address, reaches the servers'
address and nothing else, dies whole when powered off, and leaves nothing behind."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.airflow_dags import worker_hosts
from tests.support.waiting import wait_until

# Run on the host: its hostname, the source address of a connection to the servers'
# address, and whether anything outside is reachable (no route: fails at once).
PROBE = """
import socket, sys
print(socket.gethostname())
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as s:
    print(s.getsockname()[0])
try:
    socket.create_connection(("192.0.2.1", 80), timeout=5)
    print("outside reachable")
except OSError as e:
    print(type(e).__name__, e.errno)
"""


def test_a_host_is_named_addressed_and_routed_to_the_servers_only():
    worker_hosts.require_network_namespaces()
    with worker_hosts.server_address() as address, worker_hosts.worker_hosts(2) as hosts:
        with socket.socket() as listener:
            listener.bind((address, 0))
            listener.listen()
            port = str(listener.getsockname()[1])
            for host in hosts:
                out = subprocess.run(
                    host.command([sys.executable, "-c", PROBE, address, port]),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert out.returncode == 0, out.stderr
                name, source, outside = out.stdout.split("\n")[:3]
                assert (name, source) == (host.hostname, host.address)
                assert outside.startswith("OSError") and outside.endswith(" 101"), outside
        assert socket.gethostname() not in {h.hostname for h in hosts}
        names = {h.netns for h in hosts}
        assert names <= worker_hosts.existing_namespaces()
    assert not names & worker_hosts.existing_namespaces(), "namespaces left behind"


def test_power_off_kills_every_process_on_the_host_and_nothing_else():
    worker_hosts.require_network_namespaces()
    with worker_hosts.server_address(), worker_hosts.worker_hosts(2) as (lost, kept):
        on_lost = [subprocess.Popen(lost.command(["sleep", "120"])) for _ in range(2)]
        on_kept = subprocess.Popen(kept.command(["sleep", "120"]))
        try:
            # Each command passes through ip, unshare, sh and a short-lived `hostname` child
            # before it execs sleep: wait until all three are sleep in their namespace, so
            # power_off sees exactly them and the kept host already holds its sleep.
            wait_until(
                lambda: (
                    all(_runs_sleep(p.pid) for p in [*on_lost, on_kept])
                    and sorted(lost.pids()) == sorted(p.pid for p in on_lost)
                    and kept.pids() == [on_kept.pid]
                ),
                "the sleeps to run on their hosts",
                timeout=60,
            )
            killed = lost.power_off()
            assert sorted(p.pid for p in on_lost) == killed
            assert [p.wait(timeout=10) for p in on_lost] == [-9, -9]
            assert lost.pids() == []
            assert on_kept.poll() is None and kept.pids() == [on_kept.pid]
        finally:
            on_kept.kill()
            on_kept.wait(timeout=10)


def _runs_sleep(pid: int) -> bool:
    """True once ``pid`` has exec'd sleep (its wrappers are done)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
    except OSError:
        return False
