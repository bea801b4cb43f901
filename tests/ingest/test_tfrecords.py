"""Sharded TFRecord writing: shard names known only at the end, records in order."""

from __future__ import annotations

import pytest
import tensorflow as tf

from ingest.tfrecords import ShardedWriter


def test_records_roll_into_numbered_shards_in_order(tmp_path):
    with ShardedWriter(tmp_path / "split", shard_records=3) as writer:
        for i in range(7):
            writer.write(f"record {i}".encode())
    names = sorted(p.name for p in (tmp_path / "split").iterdir())
    assert names == [f"data-0000{i}-of-00003.tfrecord" for i in range(3)]
    files = [str(tmp_path / "split" / n) for n in names]
    got = [r.numpy().decode() for r in tf.data.TFRecordDataset(files)]
    assert got == [f"record {i}" for i in range(7)]
    with pytest.raises(ValueError, match="already closed"):
        writer.write(b"late")


def test_an_empty_split_still_gets_one_file(tmp_path):
    writer = ShardedWriter(tmp_path / "split", shard_records=3)
    assert writer.close() == 0
    assert [p.name for p in (tmp_path / "split").iterdir()] == ["data-00000-of-00001.tfrecord"]


def test_a_failure_leaves_no_final_shard_names(tmp_path):
    with pytest.raises(RuntimeError), ShardedWriter(tmp_path / "split", 3) as writer:
        writer.write(b"one")
        raise RuntimeError("source went away")
    assert not list((tmp_path / "split").glob("data-*"))
