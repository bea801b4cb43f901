"""The PromQL in deploy/: every Grafana panel target and template variable, every alert rule,
turned into plain queries that a Prometheus HTTP API can evaluate.

Grafana is not installed here, so its macros are expanded the way Grafana would before it
sends a query: ``$__rate_interval`` and friends become a fixed range, a multi-value ``$var``
becomes its "All" regex, and ``label_values(metric, label)`` becomes the query Grafana runs
for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from pipeline import configs

DEPLOY = configs.REPO_ROOT / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"

# Metric name families the servers export: TF Serving (and what cifar10-serve should mirror),
# cifar10-serve's own, the canary router's. Anything in an expression with these prefixes is
# a metric the scraped servers must really export.
_METRIC = re.compile(r"(?<![\w:])(:tensorflow:[\w:]+|model_server_\w+|router_\w+|up)(?![\w:(])")
_GRAFANA_RANGES = ("$__rate_interval", "$__interval", "$__range")
_COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?[0-9][0-9.e+]*")
_LABEL_VALUES = re.compile(r"^label_values\((?P<metric>.+),\s*(?P<label>\w+)\)$")


@dataclass(frozen=True)
class Query:
    """One expression from deploy/, with where it came from (for test ids and messages)."""

    source: str  # "<dashboard uid>/<panel title>/<refId>" or "alert/<name>"
    expr: str  # as written in the file
    promql: str  # what to send to Prometheus

    def metrics(self) -> set[str]:
        """Metric names the expression selects (label names and functions excluded)."""
        # strip label matchers so label names (e.g. `label`) and values never count
        no_matchers = re.sub(r"\{[^}]*\}", "{}", self.promql)
        no_by = re.sub(
            r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", no_matchers
        )
        return set(_METRIC.findall(no_by))


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Dashboard file name -> parsed JSON."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every non-row panel, including those nested in collapsed rows."""
    out = []
    for p in dashboard.get("panels", []):
        if p.get("type") == "row":
            out += p.get("panels", [])
        else:
            out.append(p)
    return out


def expand_grafana(expr: str, variables: dict[str, str], rate_range: str) -> str:
    """What Grafana sends for ``expr``: ranges fixed, variables at their "All" value."""
    for macro in _GRAFANA_RANGES:
        expr = expr.replace(macro, rate_range)
    for name, value in variables.items():
        expr = re.sub(r"\$\{" + name + r"\}|\$" + name + r"\b", value, expr)
    if "$" in expr:
        raise ValueError(f"unexpanded Grafana variable in {expr!r}")
    return expr


def dashboard_queries(rate_range: str = "1m") -> list[Query]:
    """Every panel target and every query variable of every dashboard."""
    out = []
    for dashboard in load_dashboards().values():
        uid = dashboard["uid"]
        variables = {
            v["name"]: v.get("allValue", ".*")
            for v in dashboard.get("templating", {}).get("list", [])
        }
        for v in dashboard.get("templating", {}).get("list", []):
            if v["type"] != "query":
                continue
            text = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            match = _LABEL_VALUES.match(text.strip())
            if not match:
                raise ValueError(f"{uid}: variable {v['name']} is not label_values(): {text}")
            promql = f"count by ({match['label']}) ({match['metric']})"
            out.append(Query(f"{uid}/variable ${v['name']}", text, promql))
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                expr = target["expr"]
                out.append(
                    Query(
                        f"{uid}/{panel['title']}/{target['refId']}",
                        expr,
                        expand_grafana(expr, variables, rate_range),
                    )
                )
    return out


def alert_rules() -> list[dict[str, Any]]:
    """The alerting rules of deploy/prometheus/alerts.yml, in file order."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for g in groups for rule in g["rules"] if "alert" in rule]


def alert_queries() -> list[Query]:
    """Each alert's expression, and as ``promql`` its signal: the expression with its
    threshold comparisons removed, which has series whenever the metrics behind it exist
    (the alert itself only has series while it fires)."""
    return [Query(f"alert/{r['alert']}", r["expr"], signal(r["expr"])) for r in alert_rules()]


def signal(expr: str) -> str:
    """``a > 0.05 and on (x) b >= 100`` -> ``a and on (x) b``."""
    return _COMPARISON.sub("", expr)
