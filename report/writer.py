"""Where reports go and how they are written: ``<output-root>/reports/<run-id>/index.html``
and a ``reports/latest`` link to the newest run's report.

Files are written to a temporary name and renamed, and ``latest`` is swapped with a rename,
so a browser (or a web server over ``reports/``) never sees half a page.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from pipeline import summary

INDEX = "index.html"
LATEST = "latest"


def reports_root(output_root: Path) -> Path:
    return Path(output_root) / "reports"


def safe_name(run_id: str) -> str:
    """A run id as a directory name (Airflow ids hold ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._") or "run"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _point_latest(root: Path, directory: Path) -> None:
    """``root/latest`` -> ``directory`` (relative symlink; a copy where symlinks fail)."""
    latest = root / LATEST
    temporary = root / f".{LATEST}.{os.getpid()}.tmp"
    if temporary.is_symlink() or temporary.exists():
        shutil.rmtree(
            temporary
        ) if temporary.is_dir() and not temporary.is_symlink() else temporary.unlink()
    try:
        temporary.symlink_to(directory.name, target_is_directory=True)
    except OSError:
        shutil.copytree(directory, temporary)
    if latest.is_dir() and not latest.is_symlink():
        shutil.rmtree(latest)
    os.replace(temporary, latest)


def write_run_report(
    metadata_connection_config,
    output_root: Path,
    run_id: str | None = None,
    failure: str | None = None,
) -> Path:
    """Write the report of run ``run_id`` (the latest if None); returns its index.html.

    ``failure``: the runner's error message for a failed run (else the run log is searched).
    ``reports/latest`` is moved to this report when it is the newest run's.
    """
    from report import facts as facts_module
    from report import render

    facts = facts_module.collect(metadata_connection_config, output_root, run_id, failure)
    root = reports_root(output_root)
    directory = root / safe_name(facts.summary.run_id or "no-run")
    path = directory / INDEX
    _write_atomically(path, render.render(facts))
    runs = summary.list_runs(metadata_connection_config)
    if not runs or runs[-1].run_id == facts.summary.run_id:
        _point_latest(root, directory)
    return path


def write_compare_report(
    metadata_connection_config, output_root: Path, run_a: str, run_b: str
) -> Path:
    """Write ``reports/compare-<A>-vs-<B>/index.html``; returns its path."""
    from report import compare
    from report import facts as facts_module

    a = facts_module.collect(metadata_connection_config, output_root, run_a, predict=False)
    b = facts_module.collect(metadata_connection_config, output_root, run_b, predict=False)
    path = reports_root(output_root) / f"compare-{safe_name(run_a)}-vs-{safe_name(run_b)}" / INDEX
    _write_atomically(path, compare.render(a, b))
    return path
