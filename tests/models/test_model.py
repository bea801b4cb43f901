"""The reference CNN and run_fn: architecture, training on a tiny set, exported signatures."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tfx.components.trainer import fn_args_utils
from tfx.components.util import tfxio_utils

from models import features, model
from tests.models.conftest import split_files


def test_reference_architecture():
    m = model.build_model()
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == ["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D",
                     "Flatten", "Dense", "Dropout", "Dense"]
    convs = [layer.filters for layer in m.layers if kinds[m.layers.index(layer)] == "Conv2D"]
    assert convs == [32, 64, 64]
    assert m.output_shape == (None, features.NUM_CLASSES)
    probs = m(np.zeros((2, *features.IMAGE_SHAPE), np.float32)).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_run_fn_trains_and_exports_three_agreeing_signatures(transform_output, tmp_path):
    examples = transform_output["examples"]
    accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=tfxio_utils.get_record_batch_factory_from_artifact([examples], []),
        data_view_decode_fn=None)
    serving_dir = tmp_path / "serving_model"
    fn_args = fn_args_utils.FnArgs(
        train_files=split_files(examples, "train"), eval_files=split_files(examples, "eval"),
        transform_output=transform_output["graph_dir"], serving_model_dir=str(serving_dir),
        model_run_dir=str(tmp_path / "run"), data_accessor=accessor,
        custom_config={"epochs": 2, "batch_size": 16}, train_steps=None)
    model.run_fn(fn_args)

    assert (serving_dir / "saved_model.pb").is_file()
    assert any((tmp_path / "run").rglob("events.out.tfevents*")), "TensorBoard logs written"
    loaded = tf.saved_model.load(str(serving_dir))
    assert set(loaded.signatures) == {features.SIGNATURE_EXAMPLES, features.SIGNATURE_IMAGES,
                                      features.SIGNATURE_IMAGE_BYTES}
    images = transform_output["images"][:6]
    by_examples = loaded.signatures[features.SIGNATURE_EXAMPLES](
        examples=tf.constant(transform_output["serialized"][:6]))
    by_images = loaded.signatures[features.SIGNATURE_IMAGES](images=tf.constant(images))
    by_bytes = loaded.signatures[features.SIGNATURE_IMAGE_BYTES](
        image_bytes=tf.stack([tf.io.encode_png(i) for i in images]))
    for other in (by_images, by_bytes):
        np.testing.assert_array_equal(by_examples[features.OUTPUT_PROBABILITIES].numpy(),
                                      other[features.OUTPUT_PROBABILITIES].numpy())
    ids = by_examples[features.OUTPUT_CLASS_IDS].numpy()
    assert ids.shape == (6,)
    names = [n.decode() for n in by_examples[features.OUTPUT_CLASSES].numpy()]
    assert names == [features.LABEL_NAMES[i] for i in ids]
