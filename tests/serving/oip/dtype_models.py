"""A SavedModel that echoes one tensor of every Open Inference Protocol datatype.

``serving_default`` doubles an FP32 ``x`` of shape [-1, 3] (outputs ``doubled`` and
``label``, a BYTES output); ``echo_<DATATYPE>`` returns its input ``x`` unchanged as
``y``, so a round trip through the server shows that each datatype arrives and leaves
exactly as it was sent.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

# The protocol name of each TensorFlow dtype the model echoes.
ECHO_DTYPES = {
    "BOOL": tf.bool,
    "UINT8": tf.uint8,
    "UINT16": tf.uint16,
    "UINT32": tf.uint32,
    "UINT64": tf.uint64,
    "INT8": tf.int8,
    "INT16": tf.int16,
    "INT32": tf.int32,
    "INT64": tf.int64,
    "FP16": tf.float16,
    "FP32": tf.float32,
    "FP64": tf.float64,
    "BF16": tf.bfloat16,
    "BYTES": tf.string,
}


def build_dtype_model(path: Path) -> Path:
    """Write the model to ``path`` (a version folder) and return it."""
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def default(x):
        label = tf.where(tf.reduce_sum(x, axis=1) > 0, "positive", "not positive")
        return {"doubled": x * 2.0, "label": label}

    signatures = {"serving_default": default}
    for name, dtype in ECHO_DTYPES.items():

        def echo(x):
            return {"y": tf.identity(x)}

        signatures[f"echo_{name}"] = tf.function(
            echo, input_signature=[tf.TensorSpec([None, None], dtype, name="x")]
        )
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path
