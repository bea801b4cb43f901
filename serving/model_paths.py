"""The on-disk layout TF Serving reads: ``<base_path>/<version>/saved_model.pb``.

Only complete, numbered version directories count: the Pusher (and anyone copying a model
in) writes to a temporary or dot-named folder and renames it into place, so a folder that is
not all digits, or that has no ``saved_model.pb`` yet, is skipped until it is complete.
Model names never become paths on their own: they come from the config or the command line,
are checked here, and requests only look names up in the loaded set.
"""

from __future__ import annotations

import re
from pathlib import Path

SAVED_MODEL_FILE = "saved_model.pb"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_VERSION_DIR = re.compile(r"^[0-9]{1,18}$")


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a safe model name (letters, digits, ``_.-``; no ``..``)."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name) or ".." in name:
        raise ValueError(f"invalid model name {name!r}: use letters, digits, '_', '-', '.'")
    return name


def is_version_dir_name(name: str) -> bool:
    """TF Serving's rule: a version folder's name is a non-negative integer."""
    return bool(_VERSION_DIR.match(name))


def list_versions(base_path: Path) -> dict[int, Path]:
    """Complete version dirs under ``base_path`` (digits, holding saved_model.pb)."""
    base = Path(base_path)
    found: dict[int, Path] = {}
    try:
        entries = list(base.iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return found
    for entry in entries:
        if not is_version_dir_name(entry.name):
            continue  # temp/staging dirs (".tmp-3", "3.partial", ...) and stray files
        if (entry / SAVED_MODEL_FILE).is_file():
            found[int(entry.name)] = entry
    return found
