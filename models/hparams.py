"""The reference CNN's hyperparameters: the one place their defaults live.

The runners pass them to the Trainer as ``custom_config`` (a JSON dict TFX stores with the
execution, so a cached run knows what it was trained with); ``run_fn`` reads them back with
:meth:`HParams.from_custom_config`, which refuses unknown keys instead of ignoring a typo.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class HParams:
    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 1e-3
    dropout_rate: float = 0.3
    early_stopping_patience: int = 3
    seed: int = 42

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.early_stopping_patience < 0:
            raise ValueError(f"hyperparameters out of range: {self}")
        if not 0.0 <= self.dropout_rate < 1.0 or self.learning_rate < 0:
            raise ValueError(f"hyperparameters out of range: {self}")

    def to_custom_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_custom_config(cls, custom_config: dict[str, Any] | None) -> HParams:
        """Defaults overridden by ``custom_config``; unknown keys are an error."""
        given = dict(custom_config or {})
        names = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown}; known: {sorted(names)}")
        kinds = {f.name: type(getattr(cls(), f.name)) for f in fields(cls)}
        return cls(**{k: kinds[k](v) for k, v in given.items()})
