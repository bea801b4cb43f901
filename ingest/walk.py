"""Find the image files under a folder: recursive, sorted, symlink-safe, listing what it skips.

Hidden files and folders (a leading dot: ``.DS_Store``, ``.ipynb_checkpoints``, ``.git``),
files without an image extension (``settings.IMAGE_EXTENSIONS``) and 0-byte files are ignored,
each recorded as a :class:`Skipped` entry so the run can count and list them. Symbolic links
are followed (to files and folders, as datasets assembled from links are common), but a folder
already on the way down is never entered again, so a link back to a parent cannot make the walk
loop forever.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ingest import settings

HIDDEN, NOT_AN_IMAGE, EMPTY_FILE, SYMLINK_LOOP, UNREADABLE = (
    "hidden",
    "not an image file",
    "0-byte file",
    "symlink loop",
    "unreadable",
)


@dataclass(frozen=True)
class Found:
    """An image file: its path, and the size and modification time a fingerprint uses."""

    path: str  # as found (a str: a Path per file would cost more than the walk itself)
    relative: str  # to the walked root, POSIX separators
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    """A path left out of the dataset, and why (one of the reasons above, or why an image
    was unusable when bad images are skipped)."""

    path: str  # relative to the walked root, POSIX separators
    reason: str


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


def digest_files(digest: _Digest, found: Iterable[Found]) -> None:
    """Feed each file's relative path, size and mtime (ns) to ``digest``: the fingerprint of
    a folder's content, cheap for 20,000 files (a stat each, no reads) and changed by any
    edit (a new size or mtime), the test ``make``, ``rsync`` and Git rely on."""
    for f in found:
        digest.update(f"{f.relative}\0{f.size}\0{f.mtime_ns}\n".encode())


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def visible_subfolders(folder: Path) -> list[Path]:
    """The non-hidden folders directly in ``folder`` (links to folders included), sorted by name."""
    return sorted(
        (p for p in folder.iterdir() if not is_hidden(p.name) and p.is_dir()), key=lambda p: p.name
    )


def image_files(folder: Path, root: Path, ignored: list[Skipped]) -> Iterator[Found]:
    """Every image file under ``folder`` in sorted order; appends what it skips to ``ignored``
    (paths relative to ``root``, which holds ``folder``)."""
    prefix = "" if Path(folder) == Path(root) else relative(folder, root) + "/"
    yield from _walk(Path(folder), prefix, ignored, ancestors=frozenset())


def _walk(
    folder: Path, prefix: str, ignored: list[Skipped], ancestors: frozenset[tuple[int, int]]
) -> Iterator[Found]:
    """``prefix``: ``folder``'s path relative to the root, with a trailing slash (string
    joins: ``Path.relative_to`` for each of 20,000 files costs more than the walk)."""
    try:
        identity = _identity(folder)
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        ignored.append(Skipped(prefix.rstrip("/"), f"{UNREADABLE}: {e.strerror or e}"))
        return
    if identity in ancestors:
        ignored.append(Skipped(prefix.rstrip("/"), SYMLINK_LOOP))
        return
    ancestors = ancestors | {identity}
    for entry in entries:
        name = prefix + entry.name
        if is_hidden(entry.name):
            ignored.append(Skipped(name, HIDDEN))
            continue
        try:
            is_dir = entry.is_dir()  # follows symlinks
            is_file = not is_dir and entry.is_file()
            stat = entry.stat() if is_file else None
        except OSError as e:  # a dangling link, a permission problem
            ignored.append(Skipped(name, f"{UNREADABLE}: {e.strerror or e}"))
            continue
        if is_dir:
            yield from _walk(Path(entry.path), name + "/", ignored, ancestors)
        elif (
            not is_file or os.path.splitext(entry.name)[1].lower() not in settings.IMAGE_EXTENSIONS
        ):
            ignored.append(Skipped(name, NOT_AN_IMAGE))
        elif stat is None or stat.st_size == 0:
            ignored.append(Skipped(name, EMPTY_FILE))
        else:
            yield Found(entry.path, name, stat.st_size, stat.st_mtime_ns)


def _identity(folder: Path) -> tuple[int, int]:
    stat = folder.stat()  # follows links: two routes to one folder share this
    return (stat.st_dev, stat.st_ino)
