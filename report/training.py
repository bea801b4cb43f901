"""What training did, in words, from the run's own history (``training_history.json``).

The Trainer's early stopping (models/model.py ``fit``) watches the eval loss with a patience
and ``restore_best_weights``; tf_keras' ``EarlyStopping.on_train_end`` restores the best
epoch's weights whether or not it stopped the run, so the exported model holds the epoch with
the lowest eval loss (the first one, on ties). The sentence says whether early stopping
triggered and which epoch's weights the model kept, from the run's own history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models.hparams import HParams, hparams_config

MONITORED = "val_loss"  # what EarlyStopping watches in models/model.py


def configured(hparams: Mapping[str, Any]) -> HParams | None:
    """The Trainer's hyperparameters (defaults filled in); None when they do not parse."""
    try:
        return HParams.from_custom_config(hparams_config(dict(hparams)))
    except (TypeError, ValueError):
        return None


def early_stopping_summary(
    epochs: Sequence[Mapping[str, float]], hparams: Mapping[str, Any]
) -> str:
    """Whether early stopping triggered and which epoch's weights the model kept."""
    hp = configured(hparams)
    ran = len(epochs)
    losses = [row.get(MONITORED) for row in epochs]
    if hp is None or not ran or any(v is None for v in losses):
        return f"{ran} epoch(s) ran; the history does not say how early stopping decided."
    values = [float(v) for v in losses if v is not None]
    best = min(range(ran), key=values.__getitem__)  # Keras: the first strict minimum
    best_epoch, last_epoch = int(epochs[best]["epoch"]), int(epochs[-1]["epoch"])
    kept = (
        f"The model keeps the weights of epoch {best_epoch} (eval loss {values[best]:.4f}, "
        "the best)"
    )
    if ran < hp.epochs:
        return (
            f"Early stopping triggered after epoch {last_epoch} of {hp.epochs}: the eval loss "
            f"had not improved for {hp.early_stopping_patience} epoch(s). {kept}, restored "
            "when training stopped."
        )
    if best_epoch == last_epoch:
        return (
            f"All {ran} configured epochs ran; early stopping (patience "
            f"{hp.early_stopping_patience}) did not trigger. {kept}: the last epoch's."
        )
    return (
        f"All {ran} configured epochs ran; early stopping (patience "
        f"{hp.early_stopping_patience}) did not trigger. {kept}, restored at the end of "
        f"training in place of the last epoch's ({last_epoch}, eval loss {values[-1]:.4f})."
    )
