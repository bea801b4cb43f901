"""A throw-away Prometheus (the Debian binary) for tests: loopback only, a free port, storage
in a temporary directory, stopped at teardown, never the system service on 9090."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support.ports import free_port
from tests.support.processes import StartedProcess, start_process
from tests.support.waiting import wait_until


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
        self._process: StartedProcess | None = None

    def start(self, timeout: float = 30.0) -> Prometheus:
        self._process = start_process(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            self.log_path,
            what="Prometheus",
            stop_timeout=15,
        )
        try:
            self._process.wait_ready(
                lambda: requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200,
                timeout=timeout,
                retry_on=(requests.ConnectionError,),
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

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

    def wait_for(
        self,
        promql: str,
        check: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``check(result)`` holds; the last result on timeout, so the
        caller's assertion shows what Prometheus had."""
        last: list[dict[str, Any]] = []

        def settled() -> bool:
            last[:] = self.query(promql)
            return check(last)

        try:
            wait_until(settled, f"{promql} to satisfy the check", timeout=timeout, interval=0.5)
        except TimeoutError:
            pass
        return list(last)


class PromQLError(RuntimeError):
    """Prometheus refused a query (parse or evaluation error)."""
