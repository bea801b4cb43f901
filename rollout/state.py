"""The rollout's durable state: which version is stable/canary, the canary weight, retired
versions, and the append-only decision history and alert log (JSON lines).

All live in rollout_settings.rollout_state_dir(output_root). ``state.json`` is the source of truth;
the router re-reads it for the weight, and the model config file is derived from it.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rollout import atomic_io
from rollout import settings as rollout_settings

STATE_FILE = "state.json"
HISTORY_FILE = "history.jsonl"
ALERTS_FILE = "alerts.jsonl"
RETRAIN_REQUEST_FILE = "retrain_request.json"
DRIFT_DIR = "drift"


@dataclass
class RolloutState:
    stable: int | None = None
    canary: int | None = None
    weight: int = 0  # percent of un-pinned requests routed to the canary label
    retired: list[int] = field(default_factory=list)
    canary_started_at: float | None = None
    updated_at: float | None = None
    waited_windows: int = 0  # analysis windows in a row without enough canary traffic
    pending: dict[str, Any] | None = None  # a decision whose side effects may be incomplete

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RolloutState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @classmethod
    def for_output_root(cls, output_root: Path | str) -> StatePaths:
        return cls(rollout_settings.rollout_state_dir(Path(output_root)))

    @property
    def state(self) -> Path:
        return self.root / STATE_FILE

    @property
    def history(self) -> Path:
        return self.root / HISTORY_FILE

    @property
    def alerts(self) -> Path:
        return self.root / ALERTS_FILE

    @property
    def retrain_request(self) -> Path:
        return self.root / RETRAIN_REQUEST_FILE

    def drift_reference(self, version: int) -> Path:
        """Drift-signal reference of one model version (rollout/drift/reference.py)."""
        return self.root / DRIFT_DIR / f"reference-{version}.json"


def read_state(path: Path) -> RolloutState:
    """The recorded state; a fresh one when nothing was recorded yet."""
    if not path.exists():
        return RolloutState()
    return RolloutState.from_json(json.loads(path.read_text()))


def write_state(path: Path, state: RolloutState) -> None:
    atomic_io.write_json_atomic(path, state.to_json())


def default_actor() -> str:
    """Who made a decision: ``user@host`` unless the caller names itself."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def new_record(action: str, actor: str, reason: str, **details: Any) -> dict[str, Any]:
    """A history/alert record: what, who, when, why, plus the metrics that drove it."""
    return {
        "id": uuid.uuid4().hex,
        "time": time.time(),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "action": action,
        "actor": actor,
        "reason": reason,
        **details,
    }
