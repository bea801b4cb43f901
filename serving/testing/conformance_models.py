"""Build the conformance suite's SavedModels: the shapes of TF Serving's own test models.

    python -m serving.testing.conformance_models OUT_DIR

writes, each under ``OUT_DIR/<model>/<version>/``:

* ``half_plus_two`` (TF1 graph, version 123): ``y = 0.5 * x + 2`` with the signatures TF
  Serving's half_plus_two testdata has: ``serving_default`` (predict, ``x`` [-1,1] float),
  ``classify_x_to_y`` (classify: tf.Example feature ``x`` -> scores), ``regress_x_to_y``
  and ``regress_x_to_y2`` (regress; ``y2 = 0.5 * x2 + 3`` where feature ``x2`` defaults to
  0), ``regress_x2_to_y3`` (``y3 = 0.5 * x2 + 4``), plus a warmup file in assets.extra;
* ``half_plus_two_tf2`` (TF2 ``tf.saved_model.save``, version 1): the same arithmetic; its
  classify/regress signatures keep TF2's ``tensorflow/serving/predict`` method name;
* ``two_versions`` (TF1, versions 123 and 124): 124 computes ``0.5 * x + 3``;
* ``keras_sequential`` (tf_keras ``Sequential([Dense(1)])``, version 1): ``0.5 * x + 2``;
* ``models.config``: a model_config_list serving all four (absolute paths).

Written from scratch for this repository; only the model shapes follow TF Serving's tests.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

MODELS = ("half_plus_two", "half_plus_two_tf2", "two_versions", "keras_sequential")
HALF_PLUS_TWO_VERSION = 123


def _example_parse(tf, serialized):
    """Features ``x`` (required) and ``x2`` (default 0), each parsed on its own so that a
    signature reading only ``x2`` does not need ``x``."""
    x = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
    x2 = tf.io.parse_example(
        serialized, {"x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}
    )["x2"]
    return x, x2


def build_tf1(path: Path, plus: float = 2.0, warmup: bool = True) -> Path:
    """A TF1 half_plus_two-shaped SavedModel computing ``0.5 * x + plus``."""
    import tensorflow as tf

    v1 = tf.compat.v1
    sig_utils = v1.saved_model.signature_def_utils
    info = v1.saved_model.utils.build_tensor_info
    with tf.Graph().as_default():
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(plus, name="b")
        c = v1.Variable(plus + 1.0, name="c")
        serialized = v1.placeholder(tf.string, [None], name="tf_example")
        ex_x, ex_x2 = _example_parse(tf, serialized)
        x = v1.placeholder(tf.float32, [None, 1], name="x")
        y = tf.add(a * x, b, name="y")
        y_ex = tf.add(a * ex_x, b, name="y_from_examples")
        y2_ex = tf.add(a * ex_x2, c, name="y2_from_examples")
        y3_ex = tf.add(a * ex_x2, c + 1.0, name="y3_from_examples")
        sigs = {
            "serving_default": sig_utils.predict_signature_def({"x": x}, {"y": y}),
            "classify_x_to_y": sig_utils.build_signature_def(
                {"inputs": info(serialized)},
                {"scores": info(y_ex)},
                v1.saved_model.signature_constants.CLASSIFY_METHOD_NAME,
            ),
            "regress_x_to_y": sig_utils.regression_signature_def(serialized, y_ex),
            "regress_x_to_y2": sig_utils.regression_signature_def(serialized, y2_ex),
            "regress_x2_to_y3": sig_utils.regression_signature_def(serialized, y3_ex),
        }
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=sigs)
            builder.save()
    if warmup:
        write_warmup(path)
    return path


def write_warmup(path: Path) -> Path:
    """assets.extra/tf_serving_warmup_requests: one predict and one regress request."""
    import tensorflow as tf
    from tensorflow_serving.apis import (
        predict_pb2,
        prediction_log_pb2,
        regression_pb2,
    )

    target = path / "assets.extra" / "tf_serving_warmup_requests"
    target.parent.mkdir(parents=True, exist_ok=True)
    predict = predict_pb2.PredictRequest()
    predict.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0]], dtype=tf.float32))
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.signature_name = "regress_x_to_y"
    regress.input.example_list.examples.add().features.feature["x"].float_list.value.append(1)
    with tf.io.TFRecordWriter(str(target)) as writer:
        writer.write(
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=predict)
            ).SerializeToString()
        )
        writer.write(
            prediction_log_pb2.PredictionLog(
                regress_log=prediction_log_pb2.RegressLog(request=regress)
            ).SerializeToString()
        )
    return target


def build_tf2(path: Path) -> Path:
    """The TF2 counterpart: tf.Module + tf.saved_model.save (method names all 'predict')."""
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            x, _ = _example_parse(tf, inputs)
            return {"scores": self.a * x + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            x, _ = _example_parse(tf, inputs)
            return {"outputs": self.a * x + self.b}

    module = HalfPlusTwo()
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "serving_default": module.predict,
            "classify_x_to_y": module.classify,
            "regress_x_to_y": module.regress,
        },
    )
    return path


def build_keras(path: Path) -> Path:
    """A tf_keras Sequential Dense(1) with weights 0.5 and bias 2 (= half_plus_two)."""
    import numpy as np
    import tf_keras as keras

    model = keras.Sequential([keras.layers.Dense(1, input_shape=(1,), name="dense")])
    model.layers[0].set_weights([np.array([[0.5]], np.float32), np.array([2.0], np.float32)])
    model.save(str(path), save_format="tf")
    return path


def build_all(out: Path) -> dict[str, Path]:
    """Build every model under ``out`` (skipping those already there); returns base paths."""
    out = Path(out).resolve()
    builders = {
        ("half_plus_two", HALF_PLUS_TWO_VERSION): lambda p: build_tf1(p),
        ("half_plus_two_tf2", 1): build_tf2,
        ("two_versions", 123): lambda p: build_tf1(p, 2.0, warmup=False),
        ("two_versions", 124): lambda p: build_tf1(p, 3.0, warmup=False),
        ("keras_sequential", 1): build_keras,
    }
    for (name, version), build in builders.items():
        target = out / name / str(version)
        if not (target / "saved_model.pb").is_file():
            tmp = out / name / f".tmp-{version}"
            build(tmp)
            tmp.rename(target)
    bases = {name: out / name for name in MODELS}
    entries = "".join(
        f'  config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow"'
        + (" model_version_policy { all {} }" if name == "two_versions" else "")
        + (
            ' version_labels { key: "stable" value: 123 } version_labels { key: "canary" '
            "value: 124 }"
            if name == "two_versions"
            else ""
        )
        + " }\n"
        for name, base in bases.items()
    )
    (out / "models.config").write_text(f"model_config_list {{\n{entries}}}\n")
    return bases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    for name, base in build_all(args.out).items():
        print(f"{name}: {base}")
    print(f"config: {args.out.resolve() / 'models.config'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
