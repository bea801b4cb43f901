"""Which model versions are loaded, which label points where, and which version a request gets.

``reconcile`` is one file-system poll: for each configured model it lists the complete
version dirs, asks the version policy which to serve, loads the new ones *first* and only
then retires the ones the policy dropped (TF Serving's availability-preserving order). If no
wanted version could be loaded, the old ones stay, so a broken push never empties a model.

``apply_config`` swaps in a new model config (from ``--model_config_file``). Version labels
must point at available versions, as in TF Serving, unless ``allow_unavailable_labels``; a
config whose labels do not fit is rejected with :class:`ConfigError` and the previous labels
stay in force. Requests resolve through :meth:`acquire`, which counts them on the version so
that a retired version is dropped only after its last request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from serving import heap, model_paths, model_poller, warmup
from serving.errors import invalid, not_found
from serving.model_config import ConfigError, ModelEntry
from serving.model_paths import list_versions, model_file
from serving.servable import AVAILABLE, END, LoadOptions, Servable

log = logging.getLogger("serving.manager")
_HISTORY = 16  # retired/failed versions remembered per model for status calls
MISSING_REPORT_SECONDS = 30.0


@dataclass(frozen=True)
class VersionStatus:
    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""


class ModelManager:
    def __init__(
        self,
        entries: Mapping[str, ModelEntry],
        *,
        allow_unavailable_labels: bool = False,
        load_options: LoadOptions | None = None,
        on_batch: Callable[[str, int, int], None] | None = None,
        max_load_retries: int = 0,
        load_retry_interval_s: float = 60.0,
    ) -> None:
        self.allow_unavailable_labels = allow_unavailable_labels
        self.load_options = load_options or LoadOptions()
        self.max_load_retries = max(0, max_load_retries)
        self.load_retry_interval_s = load_retry_interval_s
        self._on_batch = on_batch
        self._changed = threading.Condition()  # notified after every poll / load
        self._entries: dict[str, ModelEntry] = dict(entries)
        self._labels: dict[str, dict[str, int]] = {}
        self._live: dict[str, dict[int, Servable]] = {}  # AVAILABLE versions
        self._known: dict[str, dict[int, Servable]] = {}  # everything, for status
        self._failed: dict[tuple[str, int], float] = {}  # (model, version) -> pb mtime
        self._lock = threading.Lock()  # guards the dicts above; never held during a load
        self._reconcile_lock = threading.Lock()  # one reconcile / config swap at a time
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()
        self._polls = 0
        # A model with no version on disk is reported again this often (TF Serving repeats
        # it every poll; once in a while is enough to be seen without flooding the log).
        self.missing_report_seconds = MISSING_REPORT_SECONDS
        self._missing_reported: dict[str, float] = {}

    # -- state changes ------------------------------------------------------------------------
    def reconcile(self) -> None:
        """One file-system poll over every configured model."""
        with self._reconcile_lock:
            self._reconcile_locked()

    @property
    def polls(self) -> int:
        """How many file-system polls have completed (lets callers wait for the next one)."""
        return self._polls

    def wait_for_poll(self, after: int, timeout: float) -> bool:
        """Block until poll number ``after + 1`` has completed (False on timeout)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._polls > after, timeout)

    def apply_config(self, entries: Mapping[str, ModelEntry]) -> None:
        """Serve ``entries`` from now on; raises ConfigError if their labels cannot apply."""
        with self._reconcile_lock:
            with self._lock:
                self._entries = dict(entries)
                # TF Serving's order: a label moves to a live version before the version it
                # leaves is unloaded, so no request by label finds its version gone.
                for name, entry in entries.items():
                    live, labels = self._live.get(name, {}), self._labels.setdefault(name, {})
                    labels.update({k: v for k, v in entry.labels.items() if v in live})
            self._reconcile_locked()
            problems = []
            with self._lock:
                for name, entry in entries.items():
                    live = self._live.get(name, {})
                    for label, version in entry.labels.items():
                        if version not in live and not self.allow_unavailable_labels:
                            problems.append(
                                f"{name}: label '{label}' -> version {version}, "
                                f"which is not available (available: "
                                f"{sorted(live)})"
                            )
                if problems:
                    self._labels = {k: v for k, v in self._labels.items() if k in entries}
                    raise ConfigError(
                        "version labels refer to unavailable versions "
                        "(use --allow_version_labels_for_unavailable_models): "
                        + "; ".join(problems)
                    )
                self._labels = {name: dict(e.labels) for name, e in entries.items()}

    def _reconcile_locked(self) -> None:
        with self._lock:
            entries = dict(self._entries)
            dropped = [n for n in self._live if n not in entries]
        for name in dropped:
            self._retire_all(name)
        for entry in entries.values():
            self._reconcile_model(entry)
        with self._changed:
            self._polls += 1
            self._changed.notify_all()

    def _reconcile_model(self, entry: ModelEntry) -> None:
        on_disk = list_versions(entry.base_path, self.load_options.prefer_tflite)
        if on_disk:
            self._missing_reported.pop(entry.name, None)
        else:
            self._report_missing(entry)
        wanted = entry.policy.select(on_disk)
        with self._lock:
            live = dict(self._live.get(entry.name, {}))
        for version in sorted(wanted - set(live)):
            servable = self._load(entry.name, version, on_disk[version])
            if servable is not None:
                live[version] = servable
        with self._lock:
            self._live[entry.name] = live
        if not wanted & set(live) and wanted:
            log.error(
                "%s: none of versions %s could be loaded; keeping %s",
                entry.name,
                sorted(wanted),
                sorted(live),
            )
            return
        for version in sorted(set(live) - wanted):
            self._retire(entry.name, version)

    def _report_missing(self, entry: ModelEntry) -> None:
        """Say (again, every ``missing_report_seconds``) why a model has nothing to serve."""
        now = time.monotonic()
        last = self._missing_reported.get(entry.name)
        if last is not None and now - last < self.missing_report_seconds:
            return
        self._missing_reported[entry.name] = now
        log.warning("%s", model_paths.missing_versions_message(entry.name, entry.base_path))

    def _load(self, name: str, version: int, path: Path) -> Servable | None:
        pb = model_file(path, self.load_options.prefer_tflite)
        try:
            if pb is None:
                return None
            mtime = pb.stat().st_mtime
        except OSError:
            return None
        if self._failed.get((name, version)) == mtime:
            return None  # failed before and unchanged since: do not retry every poll
        on_batch = None
        if self._on_batch is not None:
            on_batch = lambda rows, n=name, v=version: self._on_batch(n, v, rows)  # noqa: E731
        for attempt in range(self.max_load_retries + 1):
            if attempt:
                log.info(
                    "retrying the load of %s version %d (retry %d of %d)",
                    name,
                    version,
                    attempt,
                    self.max_load_retries,
                )
                if self._stop.wait(max(0.0, self.load_retry_interval_s)):
                    break
            servable = Servable(name, version, path, self.load_options, on_batch)
            self._remember(servable)
            log.info("loading %s version %d from %s", name, version, path)
            try:
                self._load_and_warm_up(servable)
            except Exception as exc:  # a bad model must never take the server down
                log.error("failed to load %s version %d: %s", name, version, exc)
                continue
            self._failed.pop((name, version), None)
            heap.freeze_long_lived()  # the new version's objects leave the GC's scans
            log.info(
                "%s version %d is AVAILABLE (signatures: %s)",
                name,
                version,
                ", ".join(sorted(servable.signatures)),
            )
            return servable
        self._failed[(name, version)] = mtime
        return None

    def _load_and_warm_up(self, servable: Servable) -> None:
        """Load the version; with warmup on, replay its warmup requests before AVAILABLE."""
        options = self.load_options

        def warm_up(s: Servable) -> None:
            replayed = warmup.replay(s, options.warmup_iterations)
            if replayed:
                log.info("%s version %d: %d warmup requests replayed", s.name, s.version, replayed)

        servable.load(warm_up if options.enable_warmup else None)

    def startup_problem(self) -> str | None:
        """TF Serving's start-up verdict once every model settled: the models whose latest
        wanted version failed to load (None when all are AVAILABLE or still waiting)."""
        problems = []
        with self._lock:
            for name in self._entries:
                if self._live.get(name):
                    continue
                known = self._known.get(name, {})
                failed = [s for v, s in sorted(known.items()) if s.state == END and s.error]
                if failed:
                    s = failed[-1]
                    problems.append(
                        f"{{name: {name} version: {s.version}}} due to error: "
                        f"{s.error_code}: {s.error}"
                    )
        if not problems:
            return None
        return (
            f"{len(problems)} model(s) did not become available: {{"
            + "".join(f"{{{p}}}, " for p in problems)
            + "}"
        )

    def unavailable_models(self) -> list[str]:
        """Configured models with no AVAILABLE version yet."""
        with self._lock:
            return sorted(n for n in self._entries if not self._live.get(n))

    def _remember(self, servable: Servable) -> None:
        with self._lock:
            known = self._known.setdefault(servable.name, {})
            known[servable.version] = servable
            ended = sorted(v for v, s in known.items() if s.state == END)
            for v in ended[:-_HISTORY]:
                del known[v]

    def _retire(self, name: str, version: int) -> None:
        with self._lock:
            servable = self._live.get(name, {}).pop(version, None)
        if servable is None:
            return
        log.info(
            "unloading %s version %d (%d requests in flight)", name, version, servable.in_flight
        )
        # Waits for in-flight requests off the poll thread; new requests no longer see it.
        threading.Thread(
            target=servable.retire, name=f"retire-{name}-{version}", daemon=True
        ).start()

    def _retire_all(self, name: str) -> None:
        with self._lock:
            versions = list(self._live.get(name, {}))
        for version in versions:
            self._retire(name, version)
        with self._lock:
            self._live.pop(name, None)

    # -- polling ------------------------------------------------------------------------------
    def start_polling(
        self,
        file_system_poll_s: float,
        config_file: Path | None = None,
        config_poll_s: float = 0.0,
        config_bytes: bytes | None = None,
    ) -> None:
        """Poll the base paths (and re-read the config file) in a background thread.

        As in TF Serving, 0 means no further polling (the startup load was the one poll).
        ``config_bytes`` is the config text already applied, so only changes trigger a reload.
        """
        if config_file is None:
            config_poll_s = 0.0
        if file_system_poll_s <= 0 and config_poll_s <= 0:
            return
        self._stop.clear()
        self._poller = threading.Thread(
            target=model_poller.poll_loop,
            args=(self, self._stop, file_system_poll_s, config_file, config_poll_s, config_bytes),
            name="model-poller",
            daemon=True,
        )
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=10)
            self._poller = None

    # -- requests -----------------------------------------------------------------------------
    def acquire(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request asks for, counted as in flight (``release()`` it after)."""
        if not name:
            raise invalid("ModelSpec has no name specified.")
        if version is not None and label:
            raise invalid(
                f"Both model version ({version}) and model version label ({label}) "
                "cannot be supplied."
            )
        with self._lock:
            if name not in self._entries:
                what = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
                if label:
                    raise invalid(f"Unrecognized servable version label: {label}")
                raise not_found(f"Servable not found for request: {what}")
            live = self._live.get(name, {})
            if label:
                labels = self._labels.get(name, {})
                if label not in labels:
                    raise invalid(f"Unrecognized servable version label: {label}")
                version = labels[label]
            if version is not None:
                servable = live.get(version)
                if servable is not None and servable.try_acquire():
                    return servable
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            for v in sorted(live, reverse=True):
                if live[v].try_acquire():
                    return live[v]
        raise not_found(f"Servable not found for request: Latest({name})")

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """ModelVersionStatus entries, newest first, like GetModelStatus."""
        if not name:
            raise invalid("Missing model name in request.")
        with self._lock:
            if name not in self._entries:
                raise not_found(f"Could not find any versions of model {name}")
            if label:
                if label not in self._labels.get(name, {}):
                    raise invalid(f"Unrecognized servable version label: {label}")
                version = self._labels[name][label]
            known = dict(self._known.get(name, {}))
        if version is not None:
            if version not in known:
                raise not_found(f"Could not find version {version} of model {name}")
            known = {version: known[version]}
        out = []
        for v in sorted(known, reverse=True):
            s = known[v]
            code = (s.error_code or "UNKNOWN") if s.error else "OK"
            out.append(VersionStatus(v, s.state, code, s.error))
        return out

    # -- introspection ------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def entries(self) -> dict[str, ModelEntry]:
        with self._lock:
            return dict(self._entries)

    def labels(self, name: str) -> dict[str, int]:
        with self._lock:
            return dict(self._labels.get(name, {}))

    def available_versions(self) -> dict[str, list[int]]:
        with self._lock:
            return {
                n: sorted(v for v, s in live.items() if s.state == AVAILABLE)
                for n, live in self._live.items()
            }

    def shutdown(self, grace: float = 10.0) -> None:
        """Stop polling and unload everything now, on this thread (sessions must be closed
        before the interpreter exits, not by daemon threads racing it)."""
        self.stop()
        with self._lock:
            servables = [s for live in self._live.values() for s in live.values()]
            self._live.clear()
        for servable in servables:
            servable.retire(grace)
