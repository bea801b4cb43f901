"""The reference CNN's hyperparameters: the one place their defaults live.

The runners pass them to the Trainer as ``custom_config`` (a JSON dict TFX stores with the
execution, so a cached run knows what it was trained with); ``run_fn`` reads them back with
:meth:`HParams.from_custom_config`, which refuses unknown keys instead of ignoring a typo.
With the Tuner in the pipeline, the Trainer also gets the search's best values
(``fn_args.hyperparameters``); :func:`tuned_values` reads them out of KerasTuner's config
so they go through the same strict check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from models.dataset import CUSTOM_CONFIG_KEY


@dataclass(frozen=True)
class HParams:
    epochs: int = 15
    batch_size: int = 64
    learning_rate: float = 1e-3
    dropout_rate: float = 0.3
    early_stopping_patience: int = 3
    seed: int = 42
    # The reference CNN's widths: Conv(32)-Pool-Conv(64)-Pool-Conv(64)-Dense(64).
    conv1_filters: int = 32
    conv2_filters: int = 64
    conv3_filters: int = 64
    dense_units: int = 64

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.early_stopping_patience < 0:
            raise ValueError(f"hyperparameters out of range: {self}")
        if not 0.0 <= self.dropout_rate < 1.0 or self.learning_rate < 0:
            raise ValueError(f"hyperparameters out of range: {self}")
        if min(self.conv1_filters, self.conv2_filters, self.conv3_filters, self.dense_units) < 1:
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


def hparams_config(custom_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """``custom_config`` without the dataset description (its key is not a hyperparameter).

    The Trainer's and the Tuner's ``custom_config`` carry both; the rest must be HParams
    fields, so :meth:`HParams.from_custom_config` stays strict about everything else.
    """
    return {k: v for k, v in (custom_config or {}).items() if k != CUSTOM_CONFIG_KEY}


def tuned_values(hyperparameters: dict[str, Any] | None) -> dict[str, Any]:
    """The values of a KerasTuner ``HyperParameters.get_config()`` dict (``{}`` for None).

    That config is what TFX's Tuner writes as ``best_hyperparameters`` and what the Trainer
    passes to ``run_fn`` as ``fn_args.hyperparameters``; only its ``values`` matter here, and
    reading them as plain JSON keeps KerasTuner (which imports Keras 3) out of the Trainer.
    """
    if not hyperparameters:
        return {}
    if "values" not in hyperparameters:
        raise ValueError(
            "expected a KerasTuner HyperParameters config with 'values', got "
            f"keys {sorted(hyperparameters)}"
        )
    return dict(hyperparameters["values"])
