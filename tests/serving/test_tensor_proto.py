"""gRPC tensor conversion: the fast path reads and writes what TF's converters do."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from serving.errors import ServingError
from serving.tensor_proto import to_array, to_proto, to_protos

ARRAYS = [
    np.random.default_rng(0).random((3, 10), dtype=np.float32),
    np.arange(6, dtype=np.int64).reshape(2, 3),
    np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
    np.array([True, False]),
    np.array([b"cat", b"\xff\x00"], dtype=object),
    np.array([[b"a"], [b"b"]], dtype=object),
    np.zeros((0, 3), np.float32),
    np.float16([1.5, 2.5]),
]


@pytest.mark.parametrize("arr", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_round_trips_and_matches_tf(arr):
    proto = to_proto(arr)
    np.testing.assert_array_equal(tf.make_ndarray(proto), arr)
    tf_proto = tf.make_tensor_proto(arr)
    back = to_array("x", tf_proto)
    assert back.dtype == tf.make_ndarray(tf_proto).dtype
    np.testing.assert_array_equal(back, arr)


def test_value_fields_are_read_too():
    proto = tf.make_tensor_proto([1.0, 2.0], dtype=tf.float32)
    proto.ClearField("tensor_content")
    proto.float_val.extend([1.0, 2.0])
    np.testing.assert_array_equal(to_array("x", proto), [1.0, 2.0])


def test_bad_content_is_invalid_argument():
    proto = tf.make_tensor_proto(np.zeros((2, 2), np.float32))
    proto.tensor_content = proto.tensor_content[:-1]
    with pytest.raises(ServingError) as info:
        to_array("x", proto)
    assert info.value.code == "INVALID_ARGUMENT"


def test_output_filter():
    out = {"a": np.zeros(1), "b": np.ones(1)}
    assert list(to_protos(out, ["b"])) == ["b"]
    with pytest.raises(ServingError, match="unknown outputs"):
        to_protos(out, ["c"])
