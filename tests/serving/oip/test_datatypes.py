"""The datatype table and the value / raw encodings every OIP front end decodes through."""

from __future__ import annotations

import struct

import ml_dtypes
import numpy as np
import pytest

from serving.defaults import MAX_DECODED_TENSOR_BYTES
from serving.errors import InvalidArgument
from serving.oip import datatypes

SAMPLES = {
    "BOOL": [[True, False]],
    "UINT8": [[0, 255]],
    "UINT16": [[0, 65535]],
    "UINT32": [[0, 2**32 - 1]],
    "UINT64": [[0, 2**64 - 1]],
    "INT8": [[-128, 127]],
    "INT16": [[-(2**15), 2**15 - 1]],
    "INT32": [[-(2**31), 2**31 - 1]],
    "INT64": [[-(2**63), 2**63 - 1]],
    "FP16": [[0.5, -2.0]],
    "FP32": [[1.25, -3.5]],
    "FP64": [[1e300, -1e-300]],
    "BF16": [[1.5, -2.0]],
}


def test_every_protocol_datatype_is_in_the_table():
    spec = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
    spec |= {"FP16", "FP32", "FP64", "BF16", "BYTES"}
    assert set(datatypes.NAMES) == spec
    assert datatypes.BY_NAME["BF16"].np_dtype == np.dtype(ml_dtypes.bfloat16)
    assert datatypes.for_numpy(np.dtype(object)).name == "BYTES"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_values_and_raw_round_trip(name):
    dtype = datatypes.BY_NAME[name]
    array = datatypes.from_values(SAMPLES[name], "x", dtype, (1, 2))
    assert array.dtype == dtype.np_dtype and array.shape == (1, 2)
    raw = datatypes.to_raw(array)
    assert len(raw) == 2 * dtype.item_size
    back = datatypes.from_raw(raw, "x", dtype, (1, 2))
    np.testing.assert_array_equal(back, array)
    assert datatypes.for_array(back).name == name
    values = datatypes.to_values(back)
    assert [float(v) for v in values] == [float(v) for v in SAMPLES[name][0]]


def test_raw_is_little_endian():
    raw = datatypes.to_raw(np.array([1], dtype=np.int32))
    assert raw == struct.pack("<i", 1)
    array = datatypes.from_raw(struct.pack("<H", 258), "x", datatypes.BY_NAME["UINT16"], (1,))
    assert array.tolist() == [258]


def test_bytes_round_trip_with_length_prefixes():
    dtype = datatypes.BY_NAME["BYTES"]
    array = datatypes.from_values([["a", "hé"], ["", "xyz"]], "s", dtype, (2, 2))
    assert array.tolist() == [[b"a", "hé".encode()], [b"", b"xyz"]]
    raw = datatypes.to_raw(array)
    assert raw[:5] == struct.pack("<I", 1) + b"a"
    np.testing.assert_array_equal(datatypes.from_raw(raw, "s", dtype, (2, 2)), array)
    assert datatypes.to_values(array) == ["a", "hé", "", "xyz"]


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("UINT8", [300, 1], r"UINT8 values must lie in \[0, 255\]"),
        ("UINT8", [-1, 1], r"must lie in \[0, 255\]"),
        ("INT8", [128, 0], r"INT8 values must lie in \[-128, 127\]"),
        ("INT32", [1.5, 2], "must hold INT32 values, got float64"),
        ("BOOL", [1, 0], "must hold BOOL values"),
        ("FP32", ["a", "b"], "must hold FP32 values"),
        ("FP32", [1e39, 0], "out of FP32 range"),
        ("FP16", [70000.0, 0], "out of FP16 range"),
        ("INT64", [2**64, 0], "INT64"),
        ("BYTES", [1, 2], "BYTES data must be strings"),
    ],
)
def test_values_are_checked_not_cast(name, values, message):
    with pytest.raises(InvalidArgument, match=message):
        datatypes.from_values(values, "x", datatypes.BY_NAME[name], (2,))


def test_nested_data_must_match_the_shape():
    fp32 = datatypes.BY_NAME["FP32"]
    assert datatypes.from_values([[1, 2], [3, 4]], "x", fp32, (4,)).tolist() == [1, 2, 3, 4]
    with pytest.raises(InvalidArgument, match=r"shape \[3\] needs 3 elements, the data holds 4"):
        datatypes.from_values([[1, 2], [3, 4]], "x", fp32, (3,))
    with pytest.raises(InvalidArgument, match="not a regular array"):
        datatypes.from_values([[1, 2], [3]], "x", fp32, (3,))


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([-1, 3], "negative dimension"),
        ([2**40, 2**40], "would decode to more than"),
        ("3", "shape must be a list of integers"),
        ([1.0], "shape must be a list of integers"),
        ([True], "shape must be a list of integers"),
    ],
)
def test_bad_shapes(shape, message):
    with pytest.raises(InvalidArgument, match=message):
        datatypes.check_shape(shape, "x", datatypes.BY_NAME["FP32"])


def test_the_size_limit_counts_bytes_per_element():
    fp64 = datatypes.BY_NAME["FP64"]
    limit_elements = MAX_DECODED_TENSOR_BYTES // 8
    assert datatypes.check_shape([limit_elements], "x", fp64) == (limit_elements,)
    with pytest.raises(InvalidArgument):
        datatypes.check_shape([limit_elements + 1], "x", fp64)


def test_unknown_datatypes_name_the_known_ones():
    with pytest.raises(InvalidArgument, match="unsupported datatype 'FP8'.*BOOL, UINT8"):
        datatypes.by_name("FP8", "x")
    with pytest.raises(InvalidArgument, match="unsupported datatype 7"):
        datatypes.by_name(7, "x")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (struct.pack("<I", 5) + b"ab", "claims 5 bytes, only 2 remain"),
        (b"\x01\x00", r"needs at least 4 bytes of BYTES data, got 2"),
        (struct.pack("<I", 1) + b"a" + b"junk", "4 bytes left over"),
    ],
)
def test_garbage_bytes_tensors(raw, message):
    with pytest.raises(InvalidArgument, match=message):
        datatypes.from_raw(raw, "s", datatypes.BY_NAME["BYTES"], (1,))


def test_raw_size_must_match_the_shape_exactly():
    fp32 = datatypes.BY_NAME["FP32"]
    with pytest.raises(InvalidArgument, match="needs 12 bytes, got 8"):
        datatypes.from_raw(b"\x00" * 8, "x", fp32, (3,))
    with pytest.raises(InvalidArgument, match="BOOL bytes must be 0 or 1"):
        datatypes.from_raw(b"\x02", "b", datatypes.BY_NAME["BOOL"], (1,))


def test_non_utf8_bytes_are_detected():
    assert datatypes.is_utf8_text(np.array([b"ok", "é".encode()], dtype=object))
    assert not datatypes.is_utf8_text(np.array([b"\x89PNG"], dtype=object))


def test_a_huge_bytes_shape_is_refused_before_any_allocation():
    dtype = datatypes.BY_NAME["BYTES"]
    shape = datatypes.check_shape([400_000_000], "s", dtype)  # under the element limit
    with pytest.raises(InvalidArgument, match="needs at least 1600000000 bytes"):
        datatypes.from_raw(b"\x00" * 8, "s", dtype, shape)
