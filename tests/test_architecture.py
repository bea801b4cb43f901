"""The rules of ARCHITECTURE.md, checked on every import in the code (lazy ones too): the
layering of the packages, the rules between subpackages, no import cycles anywhere, and no
library module over the size a reader can hold in mind."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

from tests.support.import_graph import (
    Import,
    dependency_graph,
    find_cycles,
    module_files,
    project_imports,
)

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
    "kubeflow_runner",
    "setup",
    "tests",
}
# Top-level folders that hold no Python of ours (or only what never gets imported).
NOT_CODE = {"deploy", "docs", "schema", "scripts", "build", "dist"}
# Which project packages each package may import (besides itself). Entry points (the runner
# CLIs, airflow_dags, bench, demos, tests) sit on top and may import anything.
ALLOWED = {
    "serving": set(),  # a standalone TF-Serving-compatible server
    "models": set(),  # module code: runs on any worker, knows nothing of the pipeline
    "ingest": {"models"},
    "pipeline": {"serving", "models", "ingest"},  # serving: TF Serving's conventions
    "report": {"models", "ingest", "pipeline"},
    "rollout": {"models", "ingest", "pipeline", "serving", "report"},
}
# Inside a package: a module or subpackage (the key, matched with everything under it) may
# not import the ones listed. Lower subsystems never reach up into the ones built on them.
_ROLLOUT_SHARED = (
    "rollout.settings",
    "rollout.atomic_io",
    "rollout.policy",
    "rollout.state",
    "rollout.retrain_requests",
    "rollout.serving_client",
    "rollout.client_tls",
)
_ROLLOUT_CLI = {"rollout.cli", "rollout.cli_drift"}  # cifar10-rollout and its drift commands
_ROLLOUT_SUBSYSTEMS = {"rollout.drift", "rollout.canary", "rollout.release", *_ROLLOUT_CLI}
MAY_NOT_IMPORT = {
    # settings, file I/O, policy, state, retrain requests, the serving client: shared by
    # every subsystem, so they know none of them
    **dict.fromkeys(_ROLLOUT_SHARED, _ROLLOUT_SUBSYSTEMS),
    # drift signals feed the canary (its router samples inputs) and the release loop
    "rollout.drift": {"rollout.canary", "rollout.release", *_ROLLOUT_CLI},
    # the canary rollout is a step of the release loop, never the other way round
    "rollout.canary": {"rollout.release", *_ROLLOUT_CLI},
    "rollout.release": _ROLLOUT_CLI,
    # the data plane owns the request flow; the front ends (TF Serving's REST and gRPC, the
    # Open Inference Protocol) are built on it, and it knows none of them
    "serving.data_plane": {"serving.rest_api", "serving.grpc_api", "serving.oip"},
}
LIBRARY = ("models", "ingest", "pipeline", "serving", "report", "rollout")
MAX_MODULE_LINES = 400
GENERATED_MARK = "DO NOT EDIT"  # protoc's and grpc_tools' header: generated, not written


@cache
def _modules() -> dict[str, Path]:
    return module_files(REPO, sorted(PROJECT))


@cache
def _imports() -> tuple[Import, ...]:
    return tuple(project_imports(_modules()))


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_every_folder_of_python_code_is_known_to_the_rules():
    """A new package must be placed in the layering (or declared not code) to be checked."""
    unknown = sorted(
        p.name
        for p in REPO.iterdir()
        if not p.name.startswith(".")
        and p.stem not in PROJECT | NOT_CODE
        and not p.name.endswith(".egg-info")
        and ((p.is_dir() and any(p.rglob("*.py"))) or p.suffix == ".py")
    )
    assert not unknown, f"add to PROJECT (and ALLOWED if it is a library) or NOT_CODE: {unknown}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(package):
    wrong = sorted(
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in _imports()
        if imp.importer.split(".")[0] == package
        and imp.imported.split(".")[0] not in ALLOWED[package] | {package}
    )
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}:\n" + "\n".join(wrong)


def test_only_tests_import_the_tests():
    """Test plumbing is no dependency of anything that ships or runs outside pytest."""
    wrong = sorted(
        f"{imp.importer}:{imp.line} imports {imp.imported}"
        for imp in _imports()
        if _within(imp.imported, "tests") and not _within(imp.importer, "tests")
    )
    assert not wrong, "\n".join(wrong)


def rule_violations(imports: Iterable[Import], rules: dict[str, set[str]]) -> list[str]:
    """Each import that breaks a ``MAY_NOT_IMPORT``-style rule, with its line."""
    return sorted(
        f"{imp.importer}:{imp.line} imports {imp.imported} ({owner} may not import {banned})"
        for imp in imports
        for owner, forbidden in rules.items()
        if _within(imp.importer, owner)
        for banned in forbidden
        if _within(imp.imported, banned)
    )


def test_subpackages_keep_their_rules():
    wrong = rule_violations(_imports(), MAY_NOT_IMPORT)
    assert not wrong, "\n".join(wrong)


def test_every_rule_names_modules_that_exist():
    """A rule about a module that was renamed away would pass forever without checking."""
    named = set(MAY_NOT_IMPORT) | {m for banned in MAY_NOT_IMPORT.values() for m in banned}
    missing = sorted(m for m in named if not any(_within(x, m) for x in _modules()))
    assert not missing, f"MAY_NOT_IMPORT names modules that do not exist: {missing}"


def test_no_import_cycles():
    cycles = find_cycles(dependency_graph(_imports()))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_library_module_over_the_size_limit():
    offenders = {}
    for name, path in _modules().items():
        if name.split(".")[0] not in LIBRARY:
            continue
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES and GENERATED_MARK not in "".join(text.splitlines()[:3]):
            offenders[str(path.relative_to(REPO))] = lines
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines (split them): {offenders}"


# --- the checker itself ------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(root, ["pkg"])


def test_the_checker_sees_lazy_relative_and_type_checking_imports(tmp_path):
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    from pkg.sub import b\n",
            "pkg/sub/__init__.py": "from . import b\n",
            "pkg/sub/b.py": (
                "from typing import TYPE_CHECKING\nfrom ..a import f\n"
                "if TYPE_CHECKING:\n    import pkg.c\nelse:\n    import json\n"
            ),
            "pkg/c.py": "import os, pkg\nfrom pkg.sub.b import name_in_b\n",
        },
    )
    found = {(i.importer, i.imported, i.lazy, i.type_checking) for i in project_imports(modules)}
    assert found == {
        ("pkg.a", "pkg.sub.b", True, False),
        ("pkg.sub", "pkg.sub.b", False, False),
        ("pkg.sub.b", "pkg.a", False, False),
        ("pkg.sub.b", "pkg.c", False, True),
        ("pkg.c", "pkg", False, False),
        ("pkg.c", "pkg.sub.b", False, False),
    }


def test_the_checker_finds_a_cycle_through_a_lazy_import_and_prints_it(tmp_path):
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/servable.py": "import pkg.warmup\n",
            "pkg/warmup.py": "from pkg import inference\n",
            "pkg/inference.py": "def load():\n    from pkg.servable import Servable\n",
            "pkg/other.py": "import pkg.servable\n",
        },
    )
    graph = dependency_graph(project_imports(modules))
    assert find_cycles(graph) == [["pkg.inference", "pkg.servable", "pkg.warmup", "pkg.inference"]]


def test_subpackage_rules_catch_an_upward_import_lazy_or_not(tmp_path):
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "def f():\n    from pkg.high import run\n",
            "pkg/low/b.py": "import pkg.lowest\n",
            "pkg/lowest.py": "",
            "pkg/high/__init__.py": "from pkg.low import a\nrun = a.f\n",
        },
    )
    rules = {"pkg.low": {"pkg.high"}, "pkg.lowest": {"pkg.low"}}
    assert rule_violations(project_imports(modules), rules) == [
        "pkg.low.a:2 imports pkg.high (pkg.low may not import pkg.high)"
    ]


def test_an_import_only_for_type_checking_is_no_cycle(tmp_path):
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import pkg.b\n",
            "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import A\n",
        },
    )
    assert find_cycles(dependency_graph(project_imports(modules))) == []
