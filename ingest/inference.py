"""A folder of unlabelled images, as the tf.Examples the BulkInferrer scores.

Every image under the folder (recursively; hidden, non-image and 0-byte files ignored, as for
training data) becomes a ``tf.Example`` with ``image_raw`` (stored as for training: see
:mod:`ingest.images`) and ``image_path`` (its path relative to the folder, so each prediction
names its file). Corrupt, truncated or oversized images are listed, never fatal: one bad photo
must not stop the others being scored. Images stream through one at a time.

The examples go to ``output_dir`` (``data-*.tfrecord`` and ``manifest.json``), replaced
atomically; an unchanged folder (same fingerprint as :mod:`ingest.folder_plan`'s: relative
paths, sizes, mtimes) reuses what is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest import images, settings
from ingest.errors import BadImageError, DataError
from ingest.progress import WRITING, ProgressCallback, Reporter
from ingest.spans import read_manifest
from ingest.tfrecords import ShardedWriter, inference_example
from ingest.walk import Found, Skipped, digest_files, image_files

SHARD_RECORDS = 10_000


@dataclass(frozen=True)
class InferenceExamples:
    """Where the examples are, how many, and what was left out (and why)."""

    path: Path
    count: int
    reused: bool
    ignored: tuple[Skipped, ...] = ()
    bad_images: tuple[Skipped, ...] = ()


def prepare_inference_examples(
    infer_dir: Path,
    output_dir: Path,
    *,
    force_new: bool = False,
    progress: ProgressCallback | None = None,
) -> InferenceExamples:
    """Write the images of ``infer_dir`` as unlabelled examples into ``output_dir``.

    Raises :class:`DataError` when the folder does not exist or holds no usable image."""
    infer_dir, output_dir = Path(infer_dir), Path(output_dir)
    if not infer_dir.is_dir():
        raise DataError(f"inference folder {infer_dir} does not exist or is not a folder")
    ignored: list[Skipped] = []
    found = list(image_files(infer_dir, infer_dir, ignored))
    digest = hashlib.sha256()
    digest_files(digest, found)
    source = {"path": str(infer_dir), "fingerprint": digest.hexdigest()}
    if not force_new:
        manifest = read_manifest(output_dir)
        if manifest.get("source") == source:
            return InferenceExamples(
                output_dir,
                int(manifest["count"]),
                True,
                tuple(Skipped(**s) for s in manifest.get("ignored", [])),
                tuple(Skipped(**s) for s in manifest.get("bad_images", [])),
            )

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        bad = _write(found, infer_dir, tmp, progress)
        count = len(found) - len(bad)
        if count == 0:
            raise DataError(
                f"inference folder {infer_dir} holds no usable image ({len(bad)} bad, "
                f"{len(ignored)} ignored; image files end in "
                f"{', '.join(sorted(settings.IMAGE_EXTENSIONS))})"
            )
        manifest = {
            "source": source,
            "count": count,
            "ignored": [asdict(s) for s in ignored],
            "bad_images": [asdict(s) for s in bad],
        }
        (tmp / settings.SPAN_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _replace(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return InferenceExamples(output_dir, count, False, tuple(ignored), tuple(bad))


def _write(
    found: list[Found], infer_dir: Path, directory: Path, progress: ProgressCallback | None
) -> list[Skipped]:
    bad: list[Skipped] = []
    reporter = Reporter(progress, WRITING, len(found))
    with ShardedWriter(directory, SHARD_RECORDS) as writer:
        for f in found:
            name = f.relative
            try:
                encoded = images.encoded_bytes(Path(f.path))
            except BadImageError as e:
                bad.append(Skipped(name, e.reason))
            else:
                writer.write(inference_example(encoded, name).SerializeToString())
            reporter.step()
    reporter.finish()
    return bad


def _replace(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``: the old folder moved aside first, then removed."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.rename(target, old / target.name)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
