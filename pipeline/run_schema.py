"""The schema a run imports: the curated ``schema/schema.pbtxt`` with the run's label domain.

The curated schema stays the one edited by hand (its presence, shapes and image domain hold
for any image dataset); only the label's ``int_domain`` depends on the data: class ids run
from 0 to the description's class count - 1. A run whose class count matches the curated
schema imports the curated file itself (CIFAR-10's runs are unchanged, caches included);
another gets a copy with that one domain patched, written once per distinct content so an
unchanged re-run imports the same file and stays a cache hit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models import features
from models.dataset import DatasetDescription

SCHEMA_DIRNAME = "schemas"  # under the pipeline root


class SchemaError(ValueError):
    """A curated schema the run cannot patch (no label feature with an int domain)."""


def read_schema(path: Path) -> schema_pb2.Schema:
    return text_format.Parse(Path(path).read_text(), schema_pb2.Schema())


def label_domain(schema: schema_pb2.Schema) -> schema_pb2.IntDomain:
    """The label feature's ``int_domain`` (the one part of the schema a dataset decides)."""
    for feature in schema.feature:
        if feature.name == features.LABEL_KEY and feature.HasField("int_domain"):
            return feature.int_domain
    raise SchemaError(f"the curated schema has no int_domain on feature {features.LABEL_KEY!r}")


def schema_for(curated: Path, description: DatasetDescription) -> schema_pb2.Schema:
    """The curated schema with the label domain ``[0, num_classes - 1]``."""
    schema = read_schema(curated)
    domain = label_domain(schema)
    domain.min = 0
    domain.max = description.num_classes - 1
    return schema


def run_schema_path(curated: Path, description: DatasetDescription, out_dir: Path) -> Path:
    """The schema file the run imports: ``curated`` when its label domain already fits,
    else a patched copy in ``out_dir`` named by its content."""
    domain = label_domain(read_schema(curated))
    if domain.min == 0 and domain.max == description.num_classes - 1:
        return Path(curated)
    text = text_format.MessageToString(schema_for(curated, description))
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = Path(out_dir) / f"schema-{description.num_classes}-classes-{digest}.pbtxt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path
