"""Reports built from real pipeline runs: the session's shared run (1,000 + 500 images, 3
epochs) and, in their own output root, a run stopped by data anomalies followed by a good one
(so one ML Metadata store holds a failed and a succeeded run to compare)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import configs
from tests.cifar_fixtures import write_cifar_layout


def connection_config(output_root: Path):
    from tfx.orchestration import metadata

    return metadata.sqlite_metadata_connection_config(str(configs.metadata_path(output_root)))


@pytest.fixture(scope="session")
def good_report(first_pipeline_run) -> Path:
    """index.html of the shared pipeline run, written the way the runner writes it."""
    import report

    assert first_pipeline_run.exit_code == 0
    root = first_pipeline_run.output_root
    return report.write_run_report(connection_config(root), root, run_id=first_pipeline_run.run_id)


@dataclass
class TwoRuns:
    output_root: Path
    failed_run_id: str
    good_run_id: str


@pytest.fixture(scope="session")
def failed_then_good(tmp_path_factory) -> TwoRuns:
    """Run 1: labels out of range, AnomaliesGate fails the run (exit 1). Run 2: fresh random
    data with valid labels, one epoch, blessed at any accuracy (exit 0)."""
    import beam_runner
    from pipeline import summary

    tmp = tmp_path_factory.mktemp("two-runs")
    root = tmp / "out"
    bad = write_cifar_layout(tmp / "bad", per_batch=10, n_test=10, labels=[12] * 10)
    good = write_cifar_layout(tmp / "good", per_batch=20, n_test=20, seed=1)
    common = ["--output-root", str(root), "--epochs", "1"]
    assert beam_runner.main(["--data-root", str(bad), *common]) == 1
    assert beam_runner.main(["--data-root", str(good), *common, "--accuracy-lower-bound", "0"]) == 0
    runs = summary.list_runs(connection_config(root))
    assert len(runs) == 2
    return TwoRuns(root, runs[0].run_id, runs[1].run_id)
