"""A run stopped by data anomalies still gets a report saying what failed and showing what
was produced; ``cifar10-report`` regenerates, lists and compares runs from ML Metadata."""

from __future__ import annotations

import json

import pytest

import report
from report import cli
from tests.report.conftest import connection_config
from tests.report.page import decode_png, parse

pytestmark = pytest.mark.slow


def test_failed_run_report_says_what_failed(failed_then_good):
    root = failed_then_good.output_root
    path = report.write_run_report(connection_config(root), root, failed_then_good.failed_run_id)
    page = parse(path.read_text())
    assert "FAILED at AnomaliesGate" in page.text
    # The error comes from the run's own log; the anomalies from ExampleValidator's output.
    assert "DataAnomaliesError: ExampleValidator found anomalies" in page.text
    for split in ("train", "eval", "test"):
        assert (
            f"split '{split}', feature 'label': Out-of-range values: Unexpectedly large value: 12."
        ) in page.text
    assert "No training history" in page.text and "No Evaluator output" in page.text
    assert "not evaluated" in page.text and "Not pushed: the Pusher did not run" in page.text
    # What was produced before the failure is shown: the span's split sizes and statistics.
    manifest = json.loads((root / "examples" / "span-1" / "manifest.json").read_text())
    for split, count in manifest["counts"].items():
        # examples, label missing, label not 0-9, image missing
        assert f"{split} {count} 0 {count} 0" in page.text
    assert len(page.images) == 3  # class balance, pixel histograms, lineage
    for src in page.images:
        decode_png(src)
    # An older run's report does not take over "latest".
    assert (
        not (root / "reports" / "latest").exists()
        or (root / "reports" / "latest").resolve() != path.parent.resolve()
    )


def test_cli_regenerates_the_latest_run_and_moves_latest(failed_then_good, capsys):
    root = failed_then_good.output_root
    assert cli.main(["--output-root", str(root)]) == 0
    path = capsys.readouterr().out.strip().removeprefix("report: ")
    assert path == str(root / "reports" / failed_then_good.good_run_id / "index.html")
    assert (root / "reports" / "latest" / "index.html").resolve() == (
        root / "reports" / failed_then_good.good_run_id / "index.html"
    ).resolve()
    page = parse((root / "reports" / "latest" / "index.html").read_text())
    assert "succeeded: blessed and pushed" in page.text


def test_cli_compare_puts_both_runs_side_by_side(failed_then_good, capsys):
    root = failed_then_good.output_root
    a, b = failed_then_good.failed_run_id, failed_then_good.good_run_id
    assert cli.main(["--output-root", str(root), "--compare", a, b]) == 0
    path = capsys.readouterr().out.strip().removeprefix("report: ")
    page = parse(open(path).read())
    assert "status FAILED at AnomaliesGate succeeded: blessed and pushed" in page.text
    assert "Trainer did not run COMPLETE" in page.text
    assert "input span 1 2" in page.text
    assert "anomalies 3 found none" in page.text


def test_cli_lists_runs_and_rejects_unknown_ones(failed_then_good, capsys):
    root = failed_then_good.output_root
    assert cli.main(["--output-root", str(root), "--list"]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [failed_then_good.failed_run_id, failed_then_good.good_run_id]
    assert cli.main(["--output-root", str(root), "--run", "no-such-run"]) == 2
    assert "no pipeline run 'no-such-run'" in capsys.readouterr().err
    assert cli.main(["--output-root", str(root / "nowhere")]) == 2
