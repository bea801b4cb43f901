"""Rollout operations (init, start, step, promote, rollback) with crash-safe commits.

Each decision touches three files: the state, the model config the servers poll (plus one
per track for deploy/k8s-canary/), and the history. They are written in an order a crash
cannot break:

1. ``state.json`` with the new state *and* the decision as ``pending`` (atomic replace),
2. the model config rendered from that state (atomic replace),
3. the history line (skipped if a line with the decision's id is already there),
4. ``state.json`` again without ``pending``.

A crash before 1 changes nothing; after 1, the next process finds ``pending`` and redoes
2-4 (:meth:`RolloutManager.recover`), so the rollout resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline import configs
from rollout import atomic_io
from rollout import settings as rollout_settings
from rollout.canary import model_config
from rollout.policy import Policy, load_policy
from rollout.state import (
    RolloutState,
    StatePaths,
    default_actor,
    new_record,
    read_state,
    write_state,
)
from serving import defaults as serving_defaults
from serving import model_config as serving_config
from serving.model_paths import SAVED_MODEL_FILE, list_versions

log = logging.getLogger(__name__)
# What a SavedModel computes: the graph, the weights and the files it reads (vocabularies).
# fingerprint.pb and assets.extra/ (warmup requests) are left out: they do not change the
# answers, and older exports have no fingerprint.pb at all.
_CONTENT = (SAVED_MODEL_FILE, "variables", "assets")


class RolloutError(RuntimeError):
    """An operation that does not apply to the current rollout (message says why)."""


def content_fingerprint(version_dir: Path) -> str:
    """SHA-256 over a SavedModel's graph, variables and assets (relative paths and bytes).

    Two versions with the same fingerprint answer every request the same way, whatever
    their version numbers: re-pushing a model must not look like a new candidate.
    """
    digest = hashlib.sha256()
    root = Path(version_dir)
    files = []
    for name in _CONTENT:
        top = root / name
        files += [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.stat().st_size.to_bytes(8, "big"))
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


class RolloutManager:
    def __init__(
        self,
        output_root: Path | str,
        policy: Policy | None = None,
        serving_root: Path | str | None = None,
        model_name: str = configs.MODEL_NAME,
    ) -> None:
        self.output_root = Path(output_root)
        self.policy = policy or load_policy()
        self.paths = StatePaths.for_output_root(self.output_root)
        self.serving_root = Path(serving_root or configs.serving_root(self.output_root))
        self.model_name = model_name  # TF Serving's: the pipeline's --model-name
        self.model_dir = self.serving_root / model_name
        self.config_path = self.serving_root / serving_defaults.MODEL_CONFIG_FILENAME

    # --- reading -------------------------------------------------------------------------
    def state(self) -> RolloutState:
        """The current state, finishing an interrupted commit first."""
        state = read_state(self.paths.state)
        if state.pending is not None:
            state = self.recover(state)
        return state

    def history(self) -> list[dict[str, Any]]:
        return atomic_io.read_jsonl(self.paths.history)

    def versions_on_disk(self) -> list[int]:
        """Complete versions in the model directory, by TF Serving's rules."""
        return sorted(list_versions(self.model_dir))

    def identical_to(
        self, version: int, state: RolloutState | None = None
    ) -> tuple[str, int] | None:
        """``("stable" | "retired", v)`` when ``version`` is the stable or a retired version
        under another (or the same) number: same SavedModel content. A canary of it would
        only replay a model that is serving already or was taken out of service."""
        state = state or self.state()
        on_disk = list_versions(self.model_dir)
        if version not in on_disk:
            return None
        candidates = (
            [(rollout_settings.STABLE_LABEL, state.stable)] if state.stable is not None else []
        )
        candidates += [("retired", v) for v in reversed(state.retired)]
        for role, other in candidates:
            if other == version:
                return role, other
        mine = content_fingerprint(on_disk[version])
        for role, other in candidates:
            if other in on_disk and content_fingerprint(on_disk[other]) == mine:
                return role, other
        return None

    def served(self, state: RolloutState) -> model_config.ServedVersions:
        """The config for ``state``. An existing file's ``base_path`` is kept: inside a
        container the models sit at another path (e.g. /models/cifar10) than on the host.
        A file TF Serving would refuse is not built on: it is rewritten from scratch."""
        try:
            current = model_config.read(self.config_path, self.model_name)
        except serving_config.ConfigError as e:
            log.warning("rewriting the model config: %s", e)
            current = None
        base_path = current.base_path if current else str(self.model_dir.resolve())
        return model_config.ServedVersions(base_path, state.stable, state.canary)

    # --- committing ----------------------------------------------------------------------
    def _commit(self, state: RolloutState, record: dict[str, Any]) -> RolloutState:
        state = replace(state, updated_at=time.time(), pending=record)
        write_state(self.paths.state, state)
        return self.recover(state)

    def recover(self, state: RolloutState) -> RolloutState:
        """Redo the idempotent steps 2-4 of a commit whose decision is still pending."""
        record = state.pending
        served = self.served(state)
        for track in (rollout_settings.STABLE_LABEL, rollout_settings.CANARY_LABEL):
            atomic_io.write_text_atomic(
                self.config_path.with_name(model_config.track_config_filename(track)),
                model_config.render(model_config.for_track(served, track), self.model_name),
            )
        atomic_io.write_text_atomic(self.config_path, model_config.render(served, self.model_name))
        if record is not None:
            if not any(r.get("id") == record["id"] for r in self.history()[-50:]):
                atomic_io.append_jsonl(self.paths.history, record)
            state = replace(state, pending=None)
            write_state(self.paths.state, state)
        return state

    def sync_config(self) -> RolloutState:
        """Rewrite the model config from the state (e.g. after someone edited it by hand)."""
        state = self.state()
        self.recover(state)
        return state

    # --- operations ----------------------------------------------------------------------
    def _check_version(self, version: int) -> None:
        on_disk = self.versions_on_disk()
        if version not in on_disk:
            listed = ", ".join(map(str, on_disk)) or "none"
            raise RolloutError(
                f"unknown version {version}: not found under {self.model_dir} "
                f"(versions on disk: {listed})"
            )

    def init(
        self,
        version: int,
        actor: str | None = None,
        reason: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> RolloutState:
        """Make ``version`` stable when nothing is served yet (first deployment)."""
        state = self.state()
        if state.stable is not None:
            raise RolloutError(
                f"version {state.stable} is already stable; roll out "
                f"{version} with 'start {version}'"
            )
        self._check_version(version)
        record = new_record(
            "init",
            actor or default_actor(),
            reason or "first deployment",
            version=version,
            stable=version,
            metrics=metrics or {},
        )
        return self._commit(replace(state, stable=version, canary=None, weight=0), record)

    def start(
        self,
        version: int,
        weight: int | None = None,
        actor: str | None = None,
        reason: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> RolloutState:
        """Serve ``version`` under the canary label with ``weight`` percent of the traffic.

        ``weight=0`` loads the version without sending it traffic, so a caller can wait until
        the server reports it AVAILABLE and then :meth:`step` to the first weight.
        """
        state = self.state()
        if state.stable is None:
            raise RolloutError(f"no stable version yet; make one with 'init {version}'")
        if state.canary is not None:
            raise RolloutError(
                f"a rollout of version {state.canary} is in progress "
                f"({state.weight}%); promote or roll it back first"
            )
        if version == state.stable:
            raise RolloutError(f"version {version} is already stable")
        self._check_version(version)
        twin = self.identical_to(version, state)
        if twin is not None:
            role, other = twin
            same = (
                f"is the retired version {other}"
                if other == version
                else f"has the same SavedModel content as {role} version {other}"
            )
            raise RolloutError(
                f"version {version} {same}: no canary (a retired version was "
                "rolled back or replaced; a stable one is serving already)"
            )
        weight = self.policy.weight_steps[0] if weight is None else int(weight)
        if not 0 <= weight <= 100:
            raise RolloutError(f"weight must be a percentage in [0, 100], got {weight}")
        record = new_record(
            "start",
            actor or default_actor(),
            reason or f"canary {version} at {weight}%",
            version=version,
            stable=state.stable,
            weight=weight,
            metrics=metrics or {},
        )
        return self._commit(
            replace(
                state,
                canary=version,
                weight=weight,
                canary_started_at=time.time(),
                waited_windows=0,
            ),
            record,
        )

    def step(
        self,
        weight: int | None = None,
        actor: str | None = None,
        reason: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> RolloutState:
        """Move the canary to the next weight step (or to ``weight``)."""
        state = self._require_canary("step")
        if weight is None:
            weight = self.policy.next_weight(state.weight)
            if weight is None:
                raise RolloutError(
                    f"canary {state.canary} is at the last step ({state.weight}%); promote it"
                )
        if not 0 <= int(weight) <= 100:
            raise RolloutError(f"weight must be a percentage in [0, 100], got {weight}")
        record = new_record(
            "step",
            actor or default_actor(),
            reason or f"{state.weight}% -> {weight}%",
            version=state.canary,
            stable=state.stable,
            from_weight=state.weight,
            weight=int(weight),
            metrics=metrics or {},
        )
        return self._commit(replace(state, weight=int(weight), waited_windows=0), record)

    def promote(
        self, actor: str | None = None, reason: str = "", metrics: dict[str, Any] | None = None
    ) -> RolloutState:
        """The canary becomes stable; the old stable version is retired."""
        state = self._require_canary("promote")
        record = new_record(
            "promote",
            actor or default_actor(),
            reason or f"canary {state.canary} promoted",
            version=state.canary,
            previous_stable=state.stable,
            stable=state.canary,
            metrics=metrics or {},
        )
        retired = [*state.retired, state.stable] if state.stable is not None else state.retired
        return self._commit(
            replace(
                state,
                stable=state.canary,
                canary=None,
                weight=0,
                retired=retired,
                canary_started_at=None,
                waited_windows=0,
            ),
            record,
        )

    def rollback(
        self, actor: str | None = None, reason: str = "", metrics: dict[str, Any] | None = None
    ) -> RolloutState:
        """Drop the canary; stable keeps serving everything; the canary is retired."""
        state = self._require_canary("roll back")
        record = new_record(
            "rollback",
            actor or default_actor(),
            reason or f"canary {state.canary} rolled back",
            version=state.canary,
            stable=state.stable,
            weight=state.weight,
            metrics=metrics or {},
        )
        return self._commit(
            replace(
                state,
                canary=None,
                weight=0,
                retired=[*state.retired, state.canary],
                canary_started_at=None,
                waited_windows=0,
            ),
            record,
        )

    def note_wait(self) -> RolloutState:
        """Count a window without enough canary traffic (no history line, no config change)."""
        state = self.state()
        state = replace(state, waited_windows=state.waited_windows + 1, updated_at=time.time())
        write_state(self.paths.state, state)
        return state

    def _require_canary(self, what: str) -> RolloutState:
        state = self.state()
        if state.canary is None:
            stable = f"stable is {state.stable}" if state.stable is not None else "nothing served"
            raise RolloutError(f"cannot {what}: no canary rollout in progress ({stable})")
        return state
