"""The run's schema: the curated one, with the label domain of the dataset's class count."""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from models import dataset
from pipeline import configs, run_schema

THREE = dataset.CIFAR10.with_changes(class_names=("cat", "dog", "horse"))


def test_cifar10_imports_the_curated_file_itself(tmp_path):
    path = run_schema.run_schema_path(configs.SCHEMA_PATH, dataset.CIFAR10, tmp_path)
    assert path == configs.SCHEMA_PATH
    assert list(tmp_path.iterdir()) == []


def test_another_class_count_gets_a_patched_copy_and_nothing_else_changes(tmp_path):
    path = run_schema.run_schema_path(configs.SCHEMA_PATH, THREE, tmp_path)
    assert path.parent == tmp_path and "3-classes" in path.name
    patched = run_schema.read_schema(path)
    curated = run_schema.read_schema(configs.SCHEMA_PATH)
    domain = run_schema.label_domain(patched)
    assert (domain.min, domain.max) == (0, 2)
    run_schema.label_domain(curated).max = 2
    assert patched == curated  # only the label's max differs from the curated schema
    assert configs.SCHEMA_PATH.read_text().count("max: 9") == 1  # the curated file untouched


def test_the_same_content_is_the_same_file(tmp_path):
    """An unchanged re-run imports the same path, so ImportSchemaGen stays a cache hit."""
    first = run_schema.run_schema_path(configs.SCHEMA_PATH, THREE, tmp_path)
    mtime = first.stat().st_mtime_ns
    assert run_schema.run_schema_path(configs.SCHEMA_PATH, THREE, tmp_path) == first
    assert first.stat().st_mtime_ns == mtime
    five = THREE.with_changes(class_names=("a", "b", "c", "d", "e"))
    assert run_schema.run_schema_path(configs.SCHEMA_PATH, five, tmp_path) != first


def test_a_curated_schema_without_a_label_domain_is_refused(tmp_path):
    curated = tmp_path / "schema.pbtxt"
    curated.write_text(text_format.MessageToString(run_schema.read_schema(configs.SCHEMA_PATH)))
    text = curated.read_text()
    start = text.index("int_domain")
    end = text.index("}", start) + 1
    curated.write_text(text[:start] + text[end:])
    with pytest.raises(run_schema.SchemaError, match="no int_domain on feature 'label'"):
        run_schema.run_schema_path(curated, THREE, tmp_path / "out")
