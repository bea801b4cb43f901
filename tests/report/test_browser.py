"""The report in a real headless Chromium: loads from file:// with no console errors and no
requests beyond the page itself, every image decodes; a full-page screenshot is kept."""

from __future__ import annotations

import io
import os
import shutil

import pytest
from PIL import Image

from pipeline import configs
from tests.report.browser import check_page
from tests.system_deps import require_binary

pytestmark = pytest.mark.slow

DOCS_SCREENSHOT = configs.REPO_ROOT / "docs" / "report.png"


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_binary("chromium", "chromium")


def assert_clean(check) -> None:
    assert check.console_errors == []
    assert check.external_requests == []
    assert check.failed_requests == []
    assert check.broken_images == []


def test_report_renders_cleanly_in_chromium(chromium, good_report, tmp_path):
    check = check_page(chromium, good_report.resolve().as_uri(), tmp_path / "profile")
    assert_clean(check)
    assert len(check.images) == 7 and all(i["naturalWidth"] > 200 for i in check.images)
    assert check.title.startswith("CIFAR-10 pipeline run ")
    for heading in (
        "Overview",
        "Data",
        "Validation",
        "Training",
        "Evaluation",
        "Blessing and push",
        "Lineage",
        "Model card",
    ):
        assert f"\n{heading}\n" in check.text
    screenshot = Image.open(io.BytesIO(check.screenshot))
    assert screenshot.width == 1280 and screenshot.height > 3000
    (tmp_path / "report.png").write_bytes(check.screenshot)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(tmp_path / "report.png", DOCS_SCREENSHOT)


def test_failed_run_report_renders_cleanly(chromium, failed_then_good, tmp_path):
    import report
    from tests.report.conftest import connection_config

    root = failed_then_good.output_root
    path = report.write_run_report(connection_config(root), root, failed_then_good.failed_run_id)
    check = check_page(chromium, path.resolve().as_uri(), tmp_path / "profile")
    assert_clean(check)
    assert len(check.images) == 3
    assert "FAILED at AnomaliesGate" in check.text


def test_the_check_catches_what_it_claims_to(chromium, tmp_path):
    """Control: a page with an outside image, a broken image and a console error fails
    every check, so a clean result above means something."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><img src="http://127.0.0.1:9/x.png">'
        '<img src="data:image/png;base64,AAAA">'
        '<script>console.error("boom")</script></body></html>'
    )
    check = check_page(chromium, page.as_uri(), tmp_path / "profile")
    assert "boom" in check.console_errors
    assert check.external_requests == ["http://127.0.0.1:9/x.png"]
    assert check.failed_requests and len(check.broken_images) == 2
