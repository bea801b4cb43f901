"""The layering rules of ARCHITECTURE.md, checked on every import in the code (lazy ones too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = {
    "serving",
    "models",
    "ingest",
    "pipeline",
    "report",
    "rollout",
    "bench",
    "demos",
    "airflow_dags",
    "beam_runner",
    "cifar10_serving",
    "tests",
}
# Which project packages each package may import (besides itself). Entry points (the runner
# CLIs, airflow_dags, bench, tests) sit on top and may import anything.
ALLOWED = {
    "serving": set(),  # a standalone TF-Serving-compatible server
    "models": set(),  # module code: runs on any worker, knows nothing of the pipeline
    "ingest": {"models"},
    "pipeline": {"serving", "models", "ingest"},  # serving: TF Serving's conventions
    "report": {"models", "ingest", "pipeline"},
    "rollout": {"models", "ingest", "pipeline", "serving", "report"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(package):
    wrong = {}
    for path in sorted((REPO / package).rglob("*.py")):
        bad = imported_packages(path) - ALLOWED[package] - {package}
        if bad:
            wrong[str(path.relative_to(REPO))] = sorted(bad)
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}: {wrong}"


def test_the_rule_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import pipeline.configs\n    from rollout import cli\n")
    assert imported_packages(module) == {"pipeline", "rollout"}
