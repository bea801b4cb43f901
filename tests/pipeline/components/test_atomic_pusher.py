"""Atomic publishing into a TF Serving model directory."""

from __future__ import annotations

import os

import pytest

from pipeline.components import atomic_pusher


def make_model(path, fingerprint: bytes):
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"graph")
    (path / "variables").mkdir()
    (path / "variables" / "variables.index").write_bytes(b"idx")
    (path / atomic_pusher.FINGERPRINT_FILE).write_bytes(fingerprint)
    return path


def test_publish_creates_complete_version(tmp_path):
    model = make_model(tmp_path / "model", b"fp-a")
    path, version = atomic_pusher.publish_atomically(str(model), str(tmp_path / "serve"), 100)
    assert version == 100 and path == str(tmp_path / "serve" / "100")
    assert sorted(os.listdir(path)) == ["fingerprint.pb", "saved_model.pb", "variables"]
    assert os.listdir(tmp_path / "serve") == ["100"]


def test_existing_version_number_is_bumped(tmp_path):
    (tmp_path / "serve" / "100").mkdir(parents=True)
    model = make_model(tmp_path / "model", b"fp-a")
    _, version = atomic_pusher.publish_atomically(str(model), str(tmp_path / "serve"), 100)
    assert version == 101


def test_same_model_is_not_pushed_twice(tmp_path):
    model = make_model(tmp_path / "model", b"fp-a")
    first = atomic_pusher.publish_atomically(str(model), str(tmp_path / "serve"), 100)
    again = atomic_pusher.publish_atomically(str(model), str(tmp_path / "serve"), 200)
    assert again == first
    other = make_model(tmp_path / "other", b"fp-b")
    _, version = atomic_pusher.publish_atomically(str(other), str(tmp_path / "serve"), 200)
    assert version == 200


def test_failed_copy_leaves_nothing_behind(tmp_path, monkeypatch):
    model = make_model(tmp_path / "model", b"fp-a")

    def broken_copy(src, dst):
        os.makedirs(dst)
        open(os.path.join(dst, "partial"), "w").close()
        raise OSError("disk full")

    monkeypatch.setattr(atomic_pusher.shutil, "copytree", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        atomic_pusher.publish_atomically(str(model), str(tmp_path / "serve"), 100)
    assert os.listdir(tmp_path / "serve") == []
