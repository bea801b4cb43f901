"""The InfraValidator's verdict as the artifact holds it, and its reader (for the run summary
and the report). No TFX import: reading a verdict needs none."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

# Artifact contract (read by the Pusher and the run summary).
BLESSED_PROPERTY = "blessed"  # int 1/0: TFX's own, what the Pusher checks
REASON_PROPERTY = "not_blessed_reason"  # str: set only when not blessed
RESULT_FILE = "infra_validation.json"
BLESSED_MARKER = "INFRA_BLESSED"  # TFX's marker files
NOT_BLESSED_MARKER = "INFRA_NOT_BLESSED"


@dataclass
class InfraValidationResult:
    """What ``infra_validation.json`` in the InfraBlessing artifact says."""

    blessed: bool
    reason: str | None = None
    platform: str | None = None
    server: str | None = None
    mode: str | None = None
    requests_sent: int = 0
    answered: dict[str, list[str]] = field(default_factory=dict)
    seconds: float | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """One line for a run summary."""
        if self.blessed:
            what = (
                f"{self.requests_sent} requests answered"
                if self.mode == "LOAD_AND_QUERY"
                else "loaded, no requests"
            )
            return f"infra-blessed: True ({self.platform}, {what})"
        return f"infra-blessed: False: {self.reason}"


def read_infra_validation(blessing_uri: str) -> InfraValidationResult | None:
    """The InfraValidator's verdict from its InfraBlessing artifact directory.

    Reads ``infra_validation.json`` (this executor); for a blessing written by TFX's stock
    executor (no reason recorded) falls back to its marker files. ``None`` if the directory
    holds neither (the component did not run)."""
    path = os.path.join(blessing_uri, RESULT_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        known = InfraValidationResult.__dataclass_fields__
        return InfraValidationResult(**{k: v for k, v in data.items() if k in known})
    if os.path.isfile(os.path.join(blessing_uri, BLESSED_MARKER)):
        return InfraValidationResult(blessed=True)
    if os.path.isfile(os.path.join(blessing_uri, NOT_BLESSED_MARKER)):
        return InfraValidationResult(
            blessed=False, reason="not infra-blessed (no reason recorded by this executor)"
        )
    return None
