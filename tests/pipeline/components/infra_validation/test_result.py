"""Reading the InfraValidator's verdict back from its InfraBlessing directory."""

from __future__ import annotations

import json

from pipeline.components.infra_validation.result import (
    BLESSED_MARKER,
    NOT_BLESSED_MARKER,
    RESULT_FILE,
    InfraValidationResult,
    read_infra_validation,
)


def test_reader_understands_the_stock_executors_markers(tmp_path):
    assert read_infra_validation(str(tmp_path)) is None
    (tmp_path / NOT_BLESSED_MARKER).write_text("")
    result = read_infra_validation(str(tmp_path))
    assert result is not None and not result.blessed and "no reason recorded" in result.reason
    (tmp_path / NOT_BLESSED_MARKER).unlink()
    (tmp_path / BLESSED_MARKER).write_text("")
    assert read_infra_validation(str(tmp_path)).blessed


def test_reader_ignores_fields_it_does_not_know(tmp_path):
    (tmp_path / RESULT_FILE).write_text(
        json.dumps({"blessed": False, "reason": "r", "added_later": 1})
    )
    result = read_infra_validation(str(tmp_path))
    assert result == InfraValidationResult(blessed=False, reason="r")
