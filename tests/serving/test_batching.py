"""Batching: merge/split of request tensors and the window that merges concurrent calls."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from serving.batching import Batcher, BatchingOptions, batchable, merge, split, stack_key


def test_merge_and_split_round_trip():
    a = {"x": np.arange(6).reshape(2, 3), "s": np.array([b"a", b"b"], dtype=object)}
    b = {"x": np.arange(3).reshape(1, 3), "s": np.array([b"c"], dtype=object)}
    merged, sizes = merge([a, b])
    assert sizes == [2, 1]
    assert merged["x"].shape == (3, 3)
    parts = split({"y": merged["x"] * 2, "s": merged["s"]}, sizes)
    np.testing.assert_array_equal(parts[0]["y"], a["x"] * 2)
    np.testing.assert_array_equal(parts[1]["y"], b["x"] * 2)
    assert parts[1]["s"].tolist() == [b"c"]


def test_split_rejects_outputs_without_batch_dim():
    with pytest.raises(ValueError):
        split({"y": np.zeros(4)}, [2, 1])
    with pytest.raises(ValueError):
        split({"y": np.float32(1.0)}, [1])


def test_stack_key_separates_incompatible_requests():
    assert stack_key({"x": np.zeros((1, 3))}) == stack_key({"x": np.ones((5, 3))})
    assert stack_key({"x": np.zeros((1, 3))}) != stack_key({"x": np.zeros((1, 4))})
    assert stack_key({"x": np.zeros((1, 3))}) != stack_key({"x": np.zeros((1, 3), np.int32)})
    assert not batchable({"x": np.float32(1)})
    assert not batchable({"x": np.zeros(2), "y": np.zeros(3)})


def _run_concurrently(batcher: Batcher, requests: list[dict]) -> list:
    results: list = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = batcher.run(requests[i])
        except Exception as exc:  # inspected by the test
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_concurrent_requests_are_merged_and_answered_individually():
    calls: list[int] = []

    def model(inputs):
        calls.append(len(inputs["x"]))
        if (inputs["x"] < 0).any():
            raise ValueError("negative input")
        return {"y": inputs["x"] * 10, "n": inputs["x"][:, 0] + 1}

    batcher = Batcher(
        model, BatchingOptions(batch_timeout_micros=200_000, max_batch_size=64, num_batch_threads=1)
    )
    try:
        requests = [{"x": np.full((i % 3 + 1, 2), i)} for i in range(8)]
        results = _run_concurrently(batcher, requests)
    finally:
        batcher.close()
    for req, res in zip(requests, results, strict=True):
        np.testing.assert_array_equal(res["y"], req["x"] * 10)
        np.testing.assert_array_equal(res["n"], req["x"][:, 0] + 1)
    assert sum(calls) == sum(len(r["x"]) for r in requests)
    assert len(calls) < len(requests), f"no merging happened: calls {calls}"


def test_a_bad_request_fails_alone():
    def model(inputs):
        if (inputs["x"] < 0).any():
            raise ValueError("negative input")
        return {"y": inputs["x"] + 1}

    batcher = Batcher(
        model, BatchingOptions(batch_timeout_micros=200_000, max_batch_size=64, num_batch_threads=1)
    )
    try:
        requests = [{"x": np.array([[1.0]])}, {"x": np.array([[-1.0]])}, {"x": np.array([[2.0]])}]
        results = _run_concurrently(batcher, requests)
    finally:
        batcher.close()
    assert isinstance(results[1], ValueError)
    assert results[0]["y"].tolist() == [[2.0]] and results[2]["y"].tolist() == [[3.0]]


def test_max_batch_size_caps_a_merged_call():
    calls: list[int] = []

    def model(inputs):
        calls.append(len(inputs["x"]))
        time.sleep(0.01)
        return {"y": inputs["x"]}

    batcher = Batcher(
        model, BatchingOptions(batch_timeout_micros=100_000, max_batch_size=4, num_batch_threads=1)
    )
    try:
        _run_concurrently(batcher, [{"x": np.zeros((1, 1))} for _ in range(10)])
    finally:
        batcher.close()
    assert max(calls) <= 4 and sum(calls) == 10


def test_parameters_file_is_tf_servings_text_proto():
    from serving.batching import parse_parameters

    opts = parse_parameters(
        "max_batch_size { value: 8 } batch_timeout_micros { value: 500 } "
        "num_batch_threads { value: 2 } allowed_batch_sizes: 4 "
        "allowed_batch_sizes: 8"
    )
    assert (opts.max_batch_size, opts.batch_timeout_micros, opts.num_batch_threads) == (8, 500, 2)
    assert opts.allowed_batch_sizes == (4, 8)
    with pytest.raises(ValueError, match="Last entry in allowed_batch_sizes"):
        parse_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 4")


def test_allowed_batch_sizes_pad_and_trim():
    seen: list[int] = []

    def model(inputs):
        seen.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}

    batcher = Batcher(
        model, BatchingOptions(max_batch_size=8, allowed_batch_sizes=(4, 8), num_batch_threads=1)
    )
    try:
        out = batcher.run({"x": np.arange(3.0)})
    finally:
        batcher.close()
    assert seen == [4] and out["y"].tolist() == [0.0, 2.0, 4.0]


def test_a_request_over_max_batch_size_fails_like_tf_serving():
    batcher = Batcher(lambda x: dict(x), BatchingOptions(max_batch_size=2, num_batch_threads=1))
    try:
        with pytest.raises(Exception, match="larger than maximum input batch size 2"):
            batcher.run({"x": np.zeros(3)})
    finally:
        batcher.close()


def test_a_versions_own_batching_params_apply_with_the_per_model_flag(tiny_base, start_server):
    """--enable_per_model_batching_parameters: <version>/batching_params.pbtxt wins."""
    import grpc

    from models import features
    from pipeline import configs
    from serving.servable import LoadOptions
    from tests.serving.helpers import GrpcClient, sample_images

    base = tiny_base(1)
    (base / "1" / "batching_params.pbtxt").write_text("max_batch_size { value: 2 }\n")
    images = {features.INPUT_IMAGES: sample_images(3)}
    for per_model in (False, True):
        server = start_server(
            model_base_path=base,
            enable_batching=True,
            load_options=LoadOptions(per_model_batching=per_model),
        )
        client = GrpcClient(server.grpc_target)
        try:
            if not per_model:  # the server's default max_batch_size takes 3 rows
                client.predict(configs.MODEL_NAME, images, signature=features.SIGNATURE_IMAGES)
                continue
            with pytest.raises(grpc.RpcError) as info:
                client.predict(configs.MODEL_NAME, images, signature=features.SIGNATURE_IMAGES)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "larger than maximum input batch size 2" in info.value.details()
        finally:
            client.close()
