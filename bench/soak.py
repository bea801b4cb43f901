"""Soak: releases one after another through the real serving stack, under client load, for
a bounded time; every client request must succeed and the model server's and the router's
memory must stay flat.

    .venv/bin/python -m bench.soak [--minutes 10] [--rate 40] [--plot bench/soak.png]

It starts the model server (``python -m serving.cli`` with the rollout's model config and
Prometheus metrics on) and the canary router (``cifar10-rollout route``) as processes, a
first stable model, and a load generator through the router. Then, until ``--minutes``
have passed, it pushes a new model version (a small synthetic model with content of its
own, published the Pusher's way) and runs ``cifar10-release --skip-pipeline`` on it:
load without traffic, canary at each weight step, analysis windows, promotion. The server's
and the router's RSS are sampled every ``--sample-seconds``. It prints a line per release,
the client totals, RSS at the start, after the first release (warm-up) and at the end, and
writes a PNG of both RSS curves with the releases marked. Exit code 1 when any client
request failed or a release neither promoted nor rolled back.

The commands, the policy (2 s analysis windows) and the pushes are the chaos suite's
(demos/serving_stack.py), so the soak runs what the chaos tests break. A release that
rolls back has its reason printed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

import numpy as np  # noqa: E402
import requests  # noqa: E402

from bench.bench_reload_memory import free_port, rss_mb  # noqa: E402
from demos import serving_stack  # noqa: E402
from demos.loadgen import LoadGenerator  # noqa: E402
from pipeline import configs  # noqa: E402
from rollout import settings as rollout_settings  # noqa: E402
from rollout.canary.manager import RolloutManager  # noqa: E402
from rollout.policy import load_policy  # noqa: E402
from rollout.release.outcome import ACTOR  # noqa: E402

DEFAULT_PLOT = Path(__file__).with_name("soak.png")
MONITORING_CONFIG = configs.REPO_ROOT / "deploy" / "serving" / "monitoring.config"
START_TIMEOUT = 300.0
RELEASE_TIMEOUT = 120.0


def start(command: list[str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=configs.REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(proc: subprocess.Popen, ready, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited ({proc.returncode}); see {log}")
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} not ready after {START_TIMEOUT:.0f}s; see {log}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Stack:
    """The model server, the router and client load, as the chaos tests run them."""

    def __init__(self, work: Path, model: Path, rate: float) -> None:
        self.work, self.model, self.rate = work, model, rate
        self.output_root = work / "out"
        self.policy = serving_stack.write_fast_policy(work / "policy.yaml")
        self.manager = RolloutManager(self.output_root, load_policy(self.policy))
        self.ports = [free_port() for _ in range(4)]  # server gRPC, REST; router gRPC, REST
        self.server_url = f"http://{serving_stack.LOOPBACK}:{self.ports[1]}"
        self.router_url = f"http://{serving_stack.LOOPBACK}:{self.ports[3]}"
        self.procs: list[subprocess.Popen] = []
        self.load: LoadGenerator | None = None

    def start(self) -> tuple[int, int]:
        """Start everything; (server pid, router pid)."""
        self.manager.init(self.push(), actor=ACTOR, reason="soak's first stable")
        log = self.work / "server.log"
        server = start(
            serving_stack.server_command(
                self.manager.config_path,
                self.ports[0],
                self.ports[1],
                [f"--monitoring_config_file={MONITORING_CONFIG}"],
            ),
            log,
        )
        self.procs.append(server)
        wait_ready(
            server,
            lambda: serving_stack.served_version(self.server_url, rollout_settings.STABLE_LABEL),
            "model server",
            log,
        )
        log = self.work / "router.log"
        router = start(
            serving_stack.router_command(
                self.output_root,
                self.policy,
                server_rest_port=self.ports[1],
                server_grpc_port=self.ports[0],
                rest_port=self.ports[3],
                grpc_port=self.ports[2],
            ),
            log,
        )
        self.procs.append(router)
        wait_ready(
            router,
            lambda: serving_stack.ROUTER_READY_LINE in log.read_text(errors="replace"),
            "router",
            log,
        )
        self.load = LoadGenerator(
            self.router_url,
            serving_stack.spread_images(),
            np.zeros(serving_stack.LOAD_IMAGES, np.int64),
            self.rate,
            send_feedback=False,
        ).start()
        return server.pid, router.pid

    def push(self) -> int:
        return serving_stack.push_new_version(self.model, self.manager.model_dir, self.work)

    def release(self) -> tuple[int, str]:
        log = self.work / f"release-{len(list(self.work.glob('release-*.log'))) + 1:03d}.log"
        proc = start(
            serving_stack.release_command(
                self.output_root, self.policy, self.server_url, self.router_url, RELEASE_TIMEOUT
            ),
            log,
        )
        try:
            proc.wait(timeout=RELEASE_TIMEOUT + START_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop(proc)
        return proc.returncode, log.read_text(errors="replace")

    def totals(self) -> tuple[int, int]:
        if self.load is None:
            return 0, 0
        with self.load._lock:
            return self.load.view.sent, sum(self.load.view.failed.values())

    def stop(self) -> None:
        if self.load is not None:
            self.load.stop()
        for proc in reversed(self.procs):
            stop(proc)


@dataclass
class Samples:
    """RSS over time of the server and the router, and when each release ended."""

    started: float = field(default_factory=time.monotonic)
    times: list[float] = field(default_factory=list)
    server_mb: list[float] = field(default_factory=list)
    router_mb: list[float] = field(default_factory=list)
    releases: list[float] = field(default_factory=list)

    def take(self, server_pid: int, router_pid: int) -> None:
        try:
            server, router = rss_mb(server_pid), rss_mb(router_pid)
        except (OSError, RuntimeError):  # a process between restarts: skip this sample
            return
        self.times.append(time.monotonic() - self.started)
        self.server_mb.append(server)
        self.router_mb.append(router)

    def at(self, seconds: float) -> tuple[float, float]:
        """(server, router) MB of the first sample at or after ``seconds``."""
        i = next((i for i, t in enumerate(self.times) if t >= seconds), len(self.times) - 1)
        return self.server_mb[i], self.router_mb[i]


def sample_until(stop: threading.Event, pids: tuple[int, int], samples: Samples, every: float):
    while not stop.is_set():
        samples.take(*pids)
        stop.wait(every)


def plot(samples: Samples, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    minutes = [t / 60 for t in samples.times]
    ax.plot(minutes, samples.server_mb, label="model server RSS")
    ax.plot(minutes, samples.router_mb, label="router RSS")
    for t in samples.releases:
        ax.axvline(t / 60, color="grey", alpha=0.25, linewidth=0.8)
    ax.set_xlabel("minutes (grey lines: a release promoted or rolled back)")
    ax.set_ylabel("MB")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="center right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def change(first: float, last: float) -> str:
    return f"{first:.0f} -> {last:.0f} MB ({100 * (last - first) / first:+.1f} %)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="stop starting releases after")
    p.add_argument("--rate", type=float, default=40.0, help="client requests per second")
    p.add_argument("--sample-seconds", type=float, default=2.0)
    p.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.sample_seconds <= 0:
        p.error("--minutes, --rate and --sample-seconds must be positive")
    from demos.synthetic_models import write_model

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        stack = Stack(work, write_model(work / "brightness", "brightness"), args.rate)
        samples = Samples()
        stop_sampling = threading.Event()
        outcomes: list[str] = []
        try:
            pids = stack.start()
            sampler = threading.Thread(
                target=sample_until, args=(stop_sampling, pids, samples, args.sample_seconds)
            )
            sampler.start()
            deadline = time.monotonic() + args.minutes * 60
            while time.monotonic() < deadline:
                version = stack.push()
                code, log = stack.release()
                outcome = serving_stack.release_outcome(log)
                outcomes.append(outcome)
                samples.releases.append(time.monotonic() - samples.started)
                sent, failed = stack.totals()
                print(
                    f"release {len(outcomes):>3}: version {version} {outcome} (exit {code}); "
                    f"clients so far: {sent} sent, {failed} failed",
                    flush=True,
                )
                if code == 3:
                    print(
                        "  " + next((line for line in log.splitlines() if "ROLLBACK" in line), "")
                    )
                if code not in (0, 3):
                    print(log[-3000:], file=sys.stderr)
                    break
        finally:
            stop_sampling.set()
            stack.stop()
    sent, failed = stack.totals()
    if not samples.times:
        print("no memory samples were taken", file=sys.stderr)
        return 1
    warm = samples.releases[0] if samples.releases else 0.0
    start, after_warmup, end = samples.at(0), samples.at(warm), samples.at(samples.times[-1])
    promoted = outcomes.count("PROMOTED")
    summary = [
        f"{args.minutes:g} min, {len(outcomes)} releases ({promoted} promoted, "
        f"{outcomes.count('ROLLED BACK')} rolled back), clients: {sent} sent, {failed} failed",
        f"server RSS: start {start[0]:.0f} MB; after the first release -> end: "
        f"{change(after_warmup[0], end[0])}",
        f"router RSS: start {start[1]:.0f} MB; after the first release -> end: "
        f"{change(after_warmup[1], end[1])}",
    ]
    print("\n".join(summary))
    plot(samples, args.plot, "\n".join(summary))
    print(f"plot: {args.plot}")
    ok = failed == 0 and outcomes and all(o in ("PROMOTED", "ROLLED BACK") for o in outcomes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
