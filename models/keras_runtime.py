"""Process-wide TensorFlow settings for training the project's ``tf_keras`` models.

TF 2.16's AutoGraph skips converting code from the modules in its do-not-convert rules,
which name ``keras`` but not ``tf_keras`` (the package Keras 2 lives in since TF 2.16; newer
TensorFlow releases list it). So the first ``fit``/``evaluate``/``predict`` of every model
transpiled tf_keras's own training loop, layer by layer: 14.7 s of a 15 s first epoch of
the reference CNN here, against 1.05 s with the rule (``bench/keras_first_epoch.py``).
tf_keras's code is written to be traced as is, so the rule changes no result, only time.
"""

from __future__ import annotations

_TF_KERAS = "tf_keras"


def skip_autograph_for_tf_keras() -> None:
    """Add ``tf_keras`` to AutoGraph's do-not-convert rules (idempotent, any thread).

    Called by every code path that builds a model for training (``models.model``), so the
    Trainer gets it on whatever worker runs it, not only from our own entry points.
    """
    from tensorflow.python.autograph.core import config, config_lib

    if any(
        isinstance(rule, config_lib.DoNotConvert) and rule.matches(_TF_KERAS)
        for rule in config.CONVERSION_RULES
    ):
        return
    config.CONVERSION_RULES = (config_lib.DoNotConvert(_TF_KERAS), *config.CONVERSION_RULES)
