"""Hosts of their own for Celery workers on one machine: Linux network namespaces.

Each worker host is a network namespace with one veth link to this machine
(``10.231.<n>.2/30`` inside, ``10.231.<n>.1/30`` outside) and a route to the servers'
address, ``10.231.0.1``: a ``/32`` on a port-less bridge of this machine's namespace, where
Redis, PostgreSQL and MariaDB listen (and nowhere else). A worker started on a host also
gets a hostname of its own (``unshare --uts``), which Airflow records on every task
instance it runs. Killing a host SIGKILLs every process in its namespace, as a host that
loses power does. Everything is made by the test and removed at the end; the names carry
the test's pid, so two runs never share a namespace or link.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tests.support.waiting import wait_until
from tests.system_deps import require_binary, skip_or_fail

SERVER_ADDRESS = "10.231.0.1"
SUBNET_PREFIX = "10.231"


@dataclass(frozen=True)
class WorkerHost:
    hostname: str
    netns: str
    address: str  # the worker's address, inside its namespace
    gateway: str  # this machine's end of the link

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run on this host: in its namespace, under its own hostname."""
        return [
            _ip(),
            "netns",
            "exec",
            self.netns,
            require_binary("unshare", "util-linux"),
            "--uts",
            "--",
            "sh",
            "-c",
            'hostname "$0" && exec "$@"',
            self.hostname,
            *argv,
        ]

    def pids(self) -> list[int]:
        out = _run(_ip(), "netns", "pids", self.netns, check=False).stdout
        return [int(p) for p in out.split()]

    def power_off(self, timeout: float = 20.0) -> list[int]:
        """SIGKILL every process in the namespace until none is left; the pids killed."""
        killed: set[int] = set()

        def all_gone() -> bool:
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            return not pids

        wait_until(all_gone, f"every process on {self.hostname} to die", timeout=timeout)
        return sorted(killed)


def require_network_namespaces() -> None:
    """Root and iproute2: creating namespaces and links needs both."""
    _ip()
    require_binary("unshare", "util-linux")
    if os.geteuid() != 0:
        skip_or_fail("worker hosts are network namespaces: creating them needs root")


@contextlib.contextmanager
def server_address() -> Iterator[str]:
    """``SERVER_ADDRESS`` on this machine (where the servers listen), removed on exit."""
    require_network_namespaces()
    bridge = f"c10s{_tag()}"
    taken = _run(_ip(), "-o", "addr", "show").stdout
    if f" {SERVER_ADDRESS}/" in taken:
        raise RuntimeError(f"{SERVER_ADDRESS} is already in use on this machine: {taken}")
    try:
        _run(_ip(), "link", "add", bridge, "type", "bridge")
        _run(_ip(), "addr", "add", f"{SERVER_ADDRESS}/32", "dev", bridge)
        _run(_ip(), "link", "set", bridge, "up")
        yield SERVER_ADDRESS
    finally:
        _run(_ip(), "link", "delete", bridge, check=False)


@contextlib.contextmanager
def worker_hosts(count: int, name: str = "cifar10-worker") -> Iterator[list[WorkerHost]]:
    """``count`` worker hosts routed to ``SERVER_ADDRESS`` (inside :func:`server_address`);
    on exit every process in them is killed and the namespaces and links removed."""
    require_network_namespaces()
    tag = _tag()
    hosts: list[WorkerHost] = []
    try:
        for n in range(1, count + 1):
            host = WorkerHost(
                f"{name}-{n}", f"c10n{tag}-{n}", f"{SUBNET_PREFIX}.{n}.2", f"{SUBNET_PREFIX}.{n}.1"
            )
            _run(_ip(), "netns", "add", host.netns)
            hosts.append(host)  # removed on exit even if linking it fails below
            _link(host, f"c10h{tag}-{n}")
        yield hosts
    finally:
        for host in hosts:
            with contextlib.suppress(Exception):
                host.power_off()
            # Deleting the namespace removes its end of the veth pair, and so the pair.
            _run(_ip(), "netns", "delete", host.netns, check=False)


def existing_namespaces() -> set[str]:
    out = _run(_ip(), "netns", "list", check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _link(host: WorkerHost, link: str) -> None:
    """A veth pair between this machine (``gateway``) and the host (``address``)."""
    ip, netns, peer = _ip(), host.netns, f"{link}p"
    _run(ip, "link", "add", link, "type", "veth", "peer", "name", peer, "netns", netns)
    _run(ip, "addr", "add", f"{host.gateway}/30", "dev", link)
    _run(ip, "link", "set", link, "up")
    _run(ip, "-n", netns, "addr", "add", f"{host.address}/30", "dev", peer)
    _run(ip, "-n", netns, "link", "set", peer, "up")
    _run(ip, "-n", netns, "link", "set", "lo", "up")
    # Only the servers are reachable: no default route, so a lookup of anything else fails
    # at once instead of waiting on a DNS server it cannot reach.
    _run(ip, "-n", netns, "route", "add", f"{SERVER_ADDRESS}/32", "via", host.gateway)


def _tag() -> int:
    """This test process's mark on the names it creates."""
    return os.getpid() % 100_000


def _ip() -> str:
    return require_binary("ip", "iproute2")


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result
