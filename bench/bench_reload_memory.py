"""Reload memory: does the model server's resident memory grow with every model reload?

    .venv/bin/python -m bench.bench_reload_memory [--reloads 100] [--warmup 10]
        [--model-dir DIR] [--requests 50] [--plot bench/reload_memory.png]
        [--env MALLOC_ARENA_MAX=2] [-- extra server flags]

It runs the real server process (``python -m serving.cli``) on a model base path and
publishes ``--reloads`` versions one after another, as a Pusher would: the model folder is
copied beside the base path and renamed in as version k (atomic), the server's file-system
poll loads it and unloads k-1 (TF Serving's ``latest 1`` policy), the folder of k-1 is
removed, and ``--requests`` predictions are sent. After each reload the server's RSS
is read from ``/proc/<pid>/status``. It prints a table (each warm-up reload, then every
10th), the growth after warm-up (reload ``--warmup`` to the last) and writes a PNG plot of
RSS per reload.

Model: ``--model-dir`` if given, else the newest pipeline-pushed version (with its
tf.Transform layer), else an untrained reference-shaped CNN (bench/bench_serving.py).
``--env NAME=VALUE`` sets server environment variables (e.g. glibc's MALLOC_ARENA_MAX) to
bisect where memory goes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

import requests  # noqa: E402

from bench.bench_serving import find_model, load_images  # noqa: E402
from models import features  # noqa: E402
from pipeline import configs  # noqa: E402
from serving import defaults as serving_defaults  # noqa: E402
from serving.model_paths import model_url  # noqa: E402

LOAD_TIMEOUT_SECONDS = 120.0
DEFAULT_PLOT = Path(__file__).with_name("reload_memory.png")


@dataclass
class Sample:
    reload: int
    rss_mb: float
    seconds: float  # publish -> AVAILABLE
    failed: int


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((serving_defaults.LOOPBACK, 0))
        return s.getsockname()[1]


def publish(model: Path, base: Path, version: int) -> Path:
    """Copy ``model`` in as ``version`` atomically (a hidden temp folder, then a rename)."""
    staging = base / f".staging-{version}"
    shutil.copytree(model, staging)
    target = base / str(version)
    staging.rename(target)
    return target


def served_versions(rest: str) -> dict[int, str]:
    """version -> state, as the server's model status reports it."""
    try:
        answer = requests.get(rest + model_url(configs.MODEL_NAME), timeout=10)
    except requests.ConnectionError:  # not listening yet
        return {}
    if answer.status_code != 200:
        return {}
    return {int(v["version"]): v["state"] for v in answer.json().get("model_version_status", [])}


def wait_serving_only(rest: str, version: int, proc: subprocess.Popen) -> float:
    """Seconds until ``version`` is AVAILABLE and no other version is (the old unloaded)."""
    started = time.monotonic()
    deadline = started + LOAD_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        states = served_versions(rest)
        live = {v for v, s in states.items() if s in ("AVAILABLE", "LOADING", "UNLOADING")}
        if states.get(version) == "AVAILABLE" and live == {version}:
            return time.monotonic() - started
        time.sleep(0.1)
    raise SystemExit(f"version {version} was not the only one AVAILABLE after {deadline}s")


def start_server(base: Path, extra: list[str], env: dict[str, str], log: Path):
    rest_port = free_port()
    command = [
        sys.executable,
        "-m",
        "serving.cli",
        f"--model_name={configs.MODEL_NAME}",
        f"--model_base_path={base}",
        f"--port={free_port()}",
        f"--rest_api_port={rest_port}",
        "--file_system_poll_wait_seconds=1",
        *extra,
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=configs.REPO_ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://{serving_defaults.LOOPBACK}:{rest_port}"


def send_requests(rest: str, n: int, body: dict) -> int:
    """``n`` predictions; how many failed."""
    session = requests.Session()
    url = rest + model_url(configs.MODEL_NAME, verb="predict")
    failed = 0
    for _ in range(n):
        try:
            failed += session.post(url, json=body, timeout=30).status_code != 200
        except requests.RequestException:
            failed += 1
    return failed


def plot(samples: list[Sample], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot([s.reload for s in samples], [s.rss_mb for s in samples], marker=".")
    ax.set_xlabel("reload (new version published, old one unloaded and removed)")
    ax.set_ylabel("server RSS (MB)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def growth_line(samples: list[Sample], warmup: int) -> str:
    after = [s for s in samples if s.reload >= warmup]
    if len(after) < 2:
        return "too few reloads after warm-up to judge growth"
    first, last = after[0].rss_mb, after[-1].rss_mb
    per = (last - first) / (after[-1].reload - after[0].reload)
    return (
        f"after warm-up (reload {after[0].reload} -> {after[-1].reload}): "
        f"{first:.0f} MB -> {last:.0f} MB, {100 * (last - first) / first:+.1f} %, "
        f"{per:+.2f} MB per reload"
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reloads", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10, help="reloads before growth is judged")
    p.add_argument("--requests", type=int, default=50, help="predictions after each reload")
    p.add_argument("--model-dir")
    p.add_argument("--plot", type=Path, default=DEFAULT_PLOT)
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = p.parse_args(argv)
    if args.reloads < 1 or args.requests < 0 or args.warmup < 0:
        p.error("--reloads must be at least 1, --requests and --warmup not negative")
    bad = [e for e in args.env if "=" not in e]
    if bad:
        p.error(f"--env takes NAME=VALUE, got {bad[0]!r}")
    env = dict(e.split("=", 1) for e in args.env)
    model, described = find_model(args.model_dir)
    image = load_images(1)[0]
    body = {
        "signature_name": features.SIGNATURE_IMAGES,
        "instances": [{features.INPUT_IMAGES: image.tolist()}],
    }
    work = Path(tempfile.mkdtemp(prefix="reload-memory-"))
    base = work / configs.MODEL_NAME
    base.mkdir()
    publish(model, base, 1)
    proc, rest = start_server(base, extra, env, work / "server.log")
    samples: list[Sample] = []
    try:
        wait_serving_only(rest, 1, proc)
        send_requests(rest, args.requests, body)
        print(f"model: {described}; server pid {proc.pid}, env {env or 'as inherited'}")
        print(f"{'reload':>6} {'RSS MB':>8} {'load s':>7} {'failed':>6}")
        samples.append(Sample(0, rss_mb(proc.pid), 0.0, 0))
        print(f"{0:>6} {samples[0].rss_mb:>8.1f} {'':>7} {0:>6}")
        for k in range(1, args.reloads + 1):
            version = k + 1
            publish(model, base, version)
            seconds = wait_serving_only(rest, version, proc)
            shutil.rmtree(base / str(version - 1))
            failed = send_requests(rest, args.requests, body)
            samples.append(Sample(k, rss_mb(proc.pid), seconds, failed))
            if k <= args.warmup or k % 10 == 0 or k == args.reloads:
                s = samples[-1]
                print(f"{k:>6} {s.rss_mb:>8.1f} {s.seconds:>7.2f} {s.failed:>6}", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    summary = growth_line(samples, args.warmup)
    print(summary)
    print(f"failed requests: {sum(s.failed for s in samples)}")
    plot(samples, args.plot, f"{described}\n{summary}")
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
