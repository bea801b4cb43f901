"""Hot reload under load: clients keep sending while a new version is pushed (temp dir +
rename, like the Pusher) and the old one is retired by policy. Every request must succeed
and answers must move to the new version."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import requests

from models import features
from pipeline import configs
from serving import defaults as serving_defaults
from serving.servable import AVAILABLE, END, UNLOADING, Servable
from tests.serving.helpers import MODEL_LOAD_TIMEOUT, GrpcClient, outputs, sample_images
from tests.serving.tiny_models import push
from tests.support.waiting import wait_until

MODEL = configs.MODEL_NAME
IMG = sample_images(4)


class Load:
    """Client threads (gRPC and REST) recording which version answered each request."""

    def __init__(self, server, threads_per_protocol: int = 2) -> None:
        self.server = server
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.seen: list[list[int]] = []
        self.threads = []
        for i in range(threads_per_protocol * 2):
            seen: list[int] = []
            self.seen.append(seen)
            target = self._grpc if i % 2 == 0 else self._rest
            self.threads.append(threading.Thread(target=target, args=(seen,), daemon=True))

    def _grpc(self, seen: list[int]) -> None:
        client = GrpcClient(self.server.grpc_target)
        try:
            while not self.stop.is_set():
                try:
                    resp = client.predict(
                        MODEL, {features.INPUT_IMAGES: IMG}, signature=features.SIGNATURE_IMAGES
                    )
                    ids = set(outputs(resp)[features.OUTPUT_CLASS_IDS].tolist())
                    version = resp.model_spec.version.value
                    if ids != {version % 10}:
                        self.failures.append(f"grpc: v{version} answered classes {ids}")
                    seen.append(version)
                except Exception as exc:  # every failure is a test failure
                    self.failures.append(f"grpc: {exc!r}")
        finally:
            client.close()

    def _rest(self, seen: list[int]) -> None:
        session = requests.Session()
        body = {"signature_name": features.SIGNATURE_IMAGES, "inputs": IMG.tolist()}
        while not self.stop.is_set():
            try:
                r = session.post(
                    f"{self.server.rest_url}/v1/models/{MODEL}:predict", json=body, timeout=30
                )
                if r.status_code != 200:
                    self.failures.append(f"rest: {r.status_code} {r.text}")
                    continue
                ids = set(r.json()["outputs"][features.OUTPUT_CLASS_IDS])
                if len(ids) != 1:
                    self.failures.append(f"rest: mixed classes {ids}")
                seen.append(ids.pop())  # the tiny model answers class == version % 10
            except Exception as exc:
                self.failures.append(f"rest: {exc!r}")

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def latest(self) -> set[int]:
        return {s[-1] for s in self.seen if s}


@pytest.mark.timeout(120)
def test_push_new_version_under_load(tiny_base, tiny_models, start_server):
    base = tiny_base(1)
    tiny_models(2)  # build before the load starts: the push itself is just copy + rename
    server = start_server(model_base_path=base)
    with Load(server) as load:
        wait_until(lambda: all(len(s) >= 3 for s in load.seen), what="traffic on v1")
        push(tiny_models(2), base, 2)
        wait_until(
            lambda: load.latest() == {2}, what="every client on v2", timeout=MODEL_LOAD_TIMEOUT
        )
        wait_until(lambda: server.manager.status(MODEL, 1)[0].state == END, what="v1 retired")
        marks = [len(s) for s in load.seen]
        wait_until(
            lambda: all(len(s) > m + 2 for s, m in zip(load.seen, marks, strict=True)),
            what="more traffic after the switch",
        )
    assert not load.failures, load.failures[:5]
    for seen in load.seen:
        assert seen[0] == 1 and seen[-1] == 2
        switch = seen.index(2)
        assert set(seen[switch:]) == {2}, "a client went back to the retired version"
    assert server.manager.available_versions() == {MODEL: [2]}
    statuses = {s.version: s.state for s in server.manager.status(MODEL)}
    assert statuses == {2: AVAILABLE, 1: END}


@pytest.mark.timeout(120)
def test_incomplete_and_staging_dirs_are_ignored(tiny_base, tiny_models, start_server):
    base = tiny_base(1)
    server = start_server(model_base_path=base)
    (base / "5").mkdir()  # a version being written in place, no saved_model.pb yet
    push(tiny_models(3), base / ".staging", 3)  # dot dir: the Pusher's temp area
    (base / "7.tmp").mkdir()
    polls = server.manager.polls
    # Proof the poller looked (three more polls ran), not just that time passed.
    assert server.manager.wait_for_poll(polls + 2, timeout=30)
    assert server.manager.available_versions() == {MODEL: [1]}


def test_retire_waits_for_requests_in_flight(tiny_models):
    servable = Servable(MODEL, 4, tiny_models(4))
    servable.load()
    assert servable.try_acquire()
    done = threading.Event()
    threading.Thread(target=lambda: (servable.retire(), done.set()), daemon=True).start()
    wait_until(lambda: servable.state == UNLOADING, what="unloading")
    assert not servable.try_acquire(), "a retiring version took a new request"
    # The request that holds it still runs fine.
    from serving import inference

    sig = inference.find_signature(servable, features.SIGNATURE_IMAGES, inference.GRPC_PREDICT)
    out = inference.predict(servable, sig, {features.INPUT_IMAGES: IMG})
    assert out[features.OUTPUT_CLASS_IDS].tolist() == [4] * len(IMG)
    assert not done.wait(0.2) and servable.state == UNLOADING
    servable.release()
    # after the release, retire collects garbage and trims the heap: seconds when loaded
    assert done.wait(30) and servable.state == END


@pytest.mark.timeout(120)
def test_batching_gives_the_same_answers(tiny_base, start_server):
    from serving.batching import BatchingOptions

    base = tiny_base(3)
    plain = start_server(model_base_path=base, file_system_poll_seconds=0)
    batched = start_server(
        model_base_path=base,
        file_system_poll_seconds=0,
        enable_batching=True,
        batching=BatchingOptions(20, 64),
    )
    images = sample_images(8)
    want = GrpcClient(plain.grpc_target).predict(
        MODEL, {features.INPUT_IMAGES: images}, signature=features.SIGNATURE_IMAGES
    )
    results: list = [None] * len(images)

    def one(i: int) -> None:
        client = GrpcClient(batched.grpc_target)
        results[i] = outputs(
            client.predict(
                MODEL,
                {features.INPUT_IMAGES: images[i : i + 1]},
                signature=features.SIGNATURE_IMAGES,
            )
        )
        client.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    probs = np.concatenate([r[features.OUTPUT_PROBABILITIES] for r in results])
    np.testing.assert_array_equal(probs, outputs(want)[features.OUTPUT_PROBABILITIES])
    metrics = requests.get(batched.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=30).text
    assert "model_server_model_call_batch_size_count" in metrics


@pytest.mark.timeout(120)
def test_a_broken_push_keeps_the_old_version_serving(tiny_base, start_server, caplog):
    base = tiny_base(1)
    server = start_server(model_base_path=base)
    broken = base / ".tmp-2"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"definitely not a SavedModel")
    broken.rename(base / "2")
    # Version 2 shows up LOADING first; the check is on where its load attempt ends.
    wait_until(
        lambda: any(s.version == 2 and s.state == END for s in server.manager.status(MODEL)),
        what="the load attempt to end",
        timeout=MODEL_LOAD_TIMEOUT,
    )
    (failed,) = server.manager.status(MODEL, 2)
    assert failed.state == END and failed.error_code != "OK" and failed.error_message
    assert server.manager.available_versions() == {MODEL: [1]}
    r = requests.post(
        f"{server.rest_url}/v1/models/{MODEL}:predict",
        timeout=30,
        json={"signature_name": features.SIGNATURE_IMAGES, "instances": IMG[:1].tolist()},
    )
    assert r.status_code == 200 and r.headers["X-Model-Version"] == "1"
    polls = server.manager.polls  # further polls do not retry the unchanged broken version
    assert server.manager.wait_for_poll(polls + 2, timeout=30)
    assert caplog.text.count("failed to load cifar10 version 2") == 1
