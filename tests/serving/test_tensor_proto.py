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
    with pytest.raises(ServingError, match="output tensor alias not found"):
        to_protos(out, ["c"])


def test_outputs_use_typed_fields_as_tf_serving_does():
    """Clients read ``outputs["y"].float_val`` (TF Serving's AsProtoField)."""
    proto = to_proto(np.array([[2.5], [3.0]], np.float32))
    assert list(proto.float_val) == [2.5, 3.0] and not proto.tensor_content
    assert list(to_proto(np.array([7], np.int64)).int64_val) == [7]
    assert list(to_proto(np.array([1, 2], np.uint8)).int_val) == [1, 2]
    assert list(to_proto(np.array([b"a"], dtype=object)).string_val) == [b"a"]
    assert to_proto(np.zeros(2, np.float32), as_content=True).tensor_content


def test_fewer_values_than_the_shape_repeat_the_last_one():
    """Tensor::FromProto: the last value fills the shape; none at all means zeros."""
    proto = tf.make_tensor_proto(np.zeros((2, 2), np.float32))
    proto.ClearField("tensor_content")
    proto.float_val.extend([1.0, 2.0])
    np.testing.assert_array_equal(to_array("x", proto), [[1.0, 2.0], [2.0, 2.0]])
    proto.ClearField("float_val")
    np.testing.assert_array_equal(to_array("x", proto), np.zeros((2, 2)))
    proto.float_val.extend([1.0] * 5)
    with pytest.raises(ServingError, match="tensor parsing error: x"):
        to_array("x", proto)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.tensor_shape.dim.add(size=-3),
        lambda p: [p.tensor_shape.dim.add(size=1 << 20) for _ in range(3)],
        lambda p: setattr(p, "dtype", 999),
        lambda p: setattr(p.tensor_shape, "unknown_rank", True),
    ],
    ids=["negative-dim", "huge-dims", "bad-dtype", "unknown-rank"],
)
def test_lying_protos_are_invalid_argument_not_a_crash(mutate):
    proto = tf.make_tensor_proto([1.0], dtype=tf.float32)
    proto.ClearField("tensor_content")
    proto.ClearField("tensor_shape")
    proto.float_val.append(1.0)
    mutate(proto)
    with pytest.raises(ServingError, match="tensor parsing error") as info:
        to_array("x", proto)
    assert info.value.code == "INVALID_ARGUMENT"
