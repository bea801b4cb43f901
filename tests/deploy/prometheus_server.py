"""A throw-away Prometheus (the Debian binary) for tests: loopback only, a free port, storage
in a temporary directory, stopped at teardown, never the system service on 9090."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_for_test(
    config: dict[str, Any], targets: dict[str, str], rule_files: list[Path], interval: str = "1s"
) -> dict[str, Any]:
    """``config`` (a parsed deploy/prometheus/prometheus.yml) pointed at local servers.

    Static targets are renamed through ``targets`` (compose host:port -> local host:port);
    jobs using Kubernetes discovery are dropped (Debian builds Prometheus without it, and
    there is no cluster here); intervals shrink so a test sees scrapes within seconds.
    """
    jobs = []
    for job in config["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            continue
        job = dict(job, scrape_interval=interval, scrape_timeout=interval)
        job["static_configs"] = [
            dict(sc, targets=[targets[t] for t in sc["targets"]]) for sc in job["static_configs"]
        ]
        jobs.append(job)
    return dict(
        config,
        scrape_configs=jobs,
        rule_files=[str(p) for p in rule_files],
        **{
            "global": dict(config["global"], scrape_interval=interval, evaluation_interval=interval)
        },
    )


class Prometheus:
    """``Prometheus(binary, config, workdir).start()``; ``query()`` / ``wait_for()``."""

    def __init__(self, binary: str, config: dict[str, Any], workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Prometheus:
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"prometheus not ready in {timeout}s: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def api(self, path: str, **params: Any) -> Any:
        """``data`` of a Prometheus HTTP API answer; raises with its error text otherwise."""
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise PromQLError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant vector result of ``promql`` (raises PromQLError if it does not parse)."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        return data["result"]

    def wait_for(self, promql: str, check, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``check(result)`` holds; the last result on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if check(result) or time.monotonic() > deadline:
                return result
            time.sleep(0.5)


class PromQLError(RuntimeError):
    """Prometheus refused a query (parse or evaluation error)."""
