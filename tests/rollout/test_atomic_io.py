from __future__ import annotations

import os

import pytest

from rollout import atomic_io


def test_write_replaces_content_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "models.config"
    atomic_io.write_text_atomic(path, "old")
    atomic_io.write_text_atomic(path, "new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["models.config"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_a_crash_before_the_rename_keeps_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "models.config"
    atomic_io.write_text_atomic(path, "old content")

    def power_cut(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(atomic_io.os, "replace", power_cut)
    with pytest.raises(OSError, match="power cut"):
        atomic_io.write_text_atomic(path, "new content that never lands")
    assert path.read_text() == "old content"
    assert os.listdir(tmp_path) == ["models.config"]


def test_jsonl_appends_and_ignores_a_torn_last_line(tmp_path):
    path = tmp_path / "history.jsonl"
    atomic_io.append_jsonl(path, {"a": 1})
    atomic_io.append_jsonl(path, {"a": 2})
    with path.open("a") as f:
        f.write('{"a": 3, "trunc')  # a crash mid-append
    assert atomic_io.read_jsonl(path) == [{"a": 1}, {"a": 2}]
    assert atomic_io.read_jsonl(tmp_path / "missing.jsonl") == []
