"""The model manager's background poll: the base paths every ``--file_system_poll_wait_seconds``
and the config file every ``--model_config_file_poll_wait_seconds`` (0: never again, as in
TF Serving). A config file that became unreadable or invalid is logged and the previous
config stays in force; a failing file-system poll never stops the polling.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from serving import model_config
from serving.model_config import ConfigError, ModelEntry, describe


class ModelManager(Protocol):
    """What the poll needs of :class:`serving.model_manager.ModelManager` (which starts it)."""

    def reconcile(self) -> None: ...

    def apply_config(self, entries: Mapping[str, ModelEntry]) -> None: ...


log = logging.getLogger("serving.manager")


def poll_loop(
    manager: ModelManager,
    stop: threading.Event,
    fs_s: float,
    config_file: Path | None,
    config_s: float,
    last: bytes | None,
) -> None:
    """Run until ``stop`` is set; ``last`` is the config text already applied."""
    now = time.monotonic()
    next_fs = now + fs_s if fs_s > 0 else math.inf
    next_cfg = now + config_s if config_s > 0 and config_file is not None else math.inf
    while not stop.wait(max(0.0, min(next_fs, next_cfg) - time.monotonic())):
        now = time.monotonic()
        if config_file is not None and now >= next_cfg:
            next_cfg = now + config_s
            last = reread_config(manager, config_file, last)
        if now >= next_fs:
            next_fs = now + fs_s
            try:
                manager.reconcile()
            except Exception:  # keep polling whatever happens on disk
                log.exception("file system poll failed")


def reread_config(manager: ModelManager, path: Path, last: bytes | None) -> bytes | None:
    """Apply the config file if its bytes changed; returns the bytes now in force."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        log.error("cannot read model config %s: %s; keeping the current config", path, exc)
        return last
    if text == last:
        return last
    try:
        entries = model_config.parse(text.decode(), relative_to=path.resolve().parent)
        manager.apply_config(entries)
        log.info("model config %s re-read: %s", path, describe(entries))
    except (ConfigError, UnicodeDecodeError) as exc:
        log.error("model config %s rejected, keeping the previous one: %s", path, exc)
    return text
