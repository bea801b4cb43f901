"""Retrain requests, consumed exactly once even when several schedulers race.

A drift alert with ``on_drift: retrain`` files a request; a scheduler (``cifar10-release
--if-retrain-requested`` / ``--watch``, the ``cifar10_release`` Airflow DAG) claims it,
retrains, and marks it done or failed with the reason. Every step is one atomic filesystem
operation in the rollout state directory, so no lock server is needed:

``retrain_request.json``
    the pending request (at most one). Filed with ``os.link`` of a complete temp file, which
    fails if a request is already pending: a reader never sees half a request, and alerts
    during a pending or running retrain do not pile up.
``retrain/claim-<token>.json``
    claimed: ``os.rename`` of the pending file to a name only this claimer knows. Of two
    racing claimers exactly one rename succeeds; the other gets ``FileNotFoundError``.
``retrain/<id>.done.json`` / ``retrain/<id>.failed.json``
    the outcome, with reason and details, written before the claim file is removed.

A claimer that dies mid-retrain leaves its claim behind; :func:`recover_dead_claims` marks
such claims failed ("claimer died") once their process is gone, so a request is never
silently lost nor run twice.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollout import atomic_io
from rollout.state import StatePaths, new_record

REQUESTS_DIR = "retrain"
DONE, FAILED = "done", "failed"
_CLAIM_PREFIX = "claim-"


def requests_dir(paths: StatePaths) -> Path:
    return paths.root / REQUESTS_DIR


@dataclass(frozen=True)
class Claim:
    """A request this process owns until :func:`finish` records its outcome."""

    path: Path
    request: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.request["id"])


def pending(paths: StatePaths) -> dict[str, Any] | None:
    """The pending request, or None."""
    try:
        return json.loads(paths.retrain_request.read_text())
    except FileNotFoundError:
        return None


def running(paths: StatePaths) -> list[dict[str, Any]]:
    """Claimed requests whose outcome is not recorded yet."""
    out = []
    for path in sorted(requests_dir(paths).glob(f"{_CLAIM_PREFIX}*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # finished (removed) between glob and read
    return out


def outcomes(paths: StatePaths) -> list[dict[str, Any]]:
    """Every finished request (done or failed), oldest first."""
    records = []
    for status in (DONE, FAILED):
        for path in requests_dir(paths).glob(f"*.{status}.json"):
            records.append(json.loads(path.read_text()))
    return sorted(records, key=lambda r: r.get("finished_at", 0.0))


def file_request(paths: StatePaths, request: dict[str, Any], actor: str) -> bool:
    """File ``request`` (needs an ``id``) unless one is pending or running; True if filed."""
    if running(paths):
        return False
    paths.root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=paths.root, prefix=".retrain_request.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(request, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, paths.retrain_request)  # atomic create-if-absent, content complete
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    atomic_io.append_jsonl(
        paths.history,
        new_record(
            "retrain_requested",
            actor,
            request.get("reason", ""),
            request_id=request["id"],
            metrics=request.get("metrics", {}),
        ),
    )
    return True


def claim(paths: StatePaths, owner: str) -> Claim | None:
    """Take the pending request for this process; None if there is none (or a racing
    claimer got it first)."""
    directory = requests_dir(paths)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{_CLAIM_PREFIX}{uuid.uuid4().hex}.json"
    try:
        os.rename(paths.retrain_request, target)
    except FileNotFoundError:
        return None
    request = json.loads(target.read_text())
    request.update(
        claimed_by=owner,
        claimed_at=time.time(),
        claim_host=socket.gethostname(),
        claim_pid=os.getpid(),
    )
    atomic_io.write_json_atomic(target, request)
    atomic_io.append_jsonl(
        paths.history,
        new_record("retrain_claimed", owner, request.get("reason", ""), request_id=request["id"]),
    )
    return Claim(target, request)


def finish(
    paths: StatePaths, claimed: Claim, status: str, reason: str, actor: str, **details: Any
) -> dict[str, Any]:
    """Record the outcome of a claimed request (``done`` or ``failed``) and release it."""
    if status not in (DONE, FAILED):
        raise ValueError(f"status must be {DONE!r} or {FAILED!r}, got {status!r}")
    record = {
        **claimed.request,
        "status": status,
        "outcome_reason": reason,
        "finished_at": time.time(),
        **details,
    }
    atomic_io.write_json_atomic(requests_dir(paths) / f"{claimed.id}.{status}.json", record)
    claimed.path.unlink(missing_ok=True)
    atomic_io.append_jsonl(
        paths.history,
        new_record(f"retrain_{status}", actor, reason, request_id=claimed.id, **details),
    )
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dead_claims(paths: StatePaths, actor: str) -> list[dict[str, Any]]:
    """Mark failed the claims of processes on this host that no longer exist."""
    recovered = []
    host = socket.gethostname()
    for path in sorted(requests_dir(paths).glob(f"{_CLAIM_PREFIX}*.json")):
        try:
            request = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = request.get("claim_pid")
        if request.get("claim_host") != host or not isinstance(pid, int) or _alive(pid):
            continue
        mine = path.with_name(f"{_CLAIM_PREFIX}{uuid.uuid4().hex}.json")
        try:
            os.rename(path, mine)  # two recoverers: only one records the failure
        except FileNotFoundError:
            continue
        recovered.append(
            finish(
                paths,
                Claim(mine, request),
                FAILED,
                f"claimer died (pid {pid} on {host}) before finishing",
                actor,
            )
        )
    return recovered
