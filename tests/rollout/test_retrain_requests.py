"""Retrain requests are consumed exactly once, also when claimers race (threads and
processes), and every claimed request ends done or failed with its reason."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from pathlib import Path

from rollout import atomic_io, retrain_requests
from rollout.state import StatePaths


def request(i: int = 0) -> dict:
    return {"id": f"req-{i}", "reason": f"input drift #{i}", "metrics": {"score": 9.0}}


def test_one_request_at_a_time_and_none_while_one_is_running(tmp_path):
    paths = StatePaths(tmp_path)
    assert retrain_requests.file_request(paths, request(1), "router")
    assert not retrain_requests.file_request(paths, request(2), "router")  # one pending
    assert retrain_requests.pending(paths)["id"] == "req-1"
    claimed = retrain_requests.claim(paths, "worker")
    assert claimed is not None and claimed.id == "req-1"
    assert retrain_requests.pending(paths) is None
    assert not retrain_requests.file_request(paths, request(3), "router")  # one running
    retrain_requests.finish(paths, claimed, retrain_requests.DONE, "promoted", "worker")
    assert retrain_requests.file_request(paths, request(4), "router")
    actions = [r["action"] for r in atomic_io.read_jsonl(paths.history)]
    assert actions == ["retrain_requested", "retrain_claimed", "retrain_done", "retrain_requested"]
    assert not list(tmp_path.glob(".retrain_request.*"))  # no temp files left


def test_a_failed_request_keeps_its_reason(tmp_path):
    paths = StatePaths(tmp_path)
    retrain_requests.file_request(paths, request(), "router")
    claimed = retrain_requests.claim(paths, "worker")
    retrain_requests.finish(
        paths, claimed, retrain_requests.FAILED, "pipeline failed (exit 1)", "worker", exit_code=1
    )
    [outcome] = retrain_requests.outcomes(paths)
    assert outcome["status"] == "failed" and outcome["outcome_reason"] == "pipeline failed (exit 1)"
    assert outcome["reason"] == "input drift #0" and outcome["claimed_by"] == "worker"
    assert retrain_requests.running(paths) == [] and retrain_requests.claim(paths, "x") is None


# Every barrier wait is bounded: a party that died breaks the barrier for the others (a
# BrokenBarrierError) instead of leaving the test and the spawned workers hanging.
BARRIER_TIMEOUT = 120.0


def _race_worker(root: str, rounds: int, barrier, results) -> None:
    paths = StatePaths(Path(root))
    won = []
    for _ in range(rounds):
        barrier.wait(BARRIER_TIMEOUT)
        claimed = retrain_requests.claim(paths, f"pid {os.getpid()}")
        if claimed is not None:
            won.append(claimed.id)
            retrain_requests.finish(paths, claimed, retrain_requests.DONE, "ok", "w")
        barrier.wait(BARRIER_TIMEOUT)  # the filer files the next request only after both tried
    results.put(won)


def test_two_processes_racing_claim_each_request_exactly_once(tmp_path):
    rounds = 40
    paths = StatePaths(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    workers = [
        ctx.Process(target=_race_worker, args=(str(tmp_path), rounds, barrier, results))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for i in range(rounds):
        assert retrain_requests.file_request(paths, request(i), "router")
        barrier.wait(BARRIER_TIMEOUT)  # both workers claim now
        barrier.wait(BARRIER_TIMEOUT)
    won = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    claimed = sorted(won[0] + won[1])
    assert claimed == sorted(f"req-{i}" for i in range(rounds))  # each once, none twice
    assert len(retrain_requests.outcomes(paths)) == rounds


def test_many_threads_racing_one_request(tmp_path):
    paths = StatePaths(tmp_path)
    retrain_requests.file_request(paths, request(), "router")
    start = threading.Barrier(8)
    won = []

    def claimer():
        start.wait()
        if (c := retrain_requests.claim(paths, threading.current_thread().name)) is not None:
            won.append(c)

    threads = [threading.Thread(target=claimer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and won[0].id == "req-0"
    assert [r["id"] for r in retrain_requests.running(paths)] == ["req-0"]


def test_a_dead_claimers_request_is_marked_failed_once(tmp_path):
    paths = StatePaths(tmp_path)
    retrain_requests.file_request(paths, request(), "router")
    claimed = retrain_requests.claim(paths, "doomed")
    dead = multiprocessing.get_context("spawn").Process(target=os.getpid)
    dead.start()
    dead.join()
    record = json.loads(claimed.path.read_text())
    record["claim_pid"] = dead.pid  # as if that (now gone) process had claimed it
    claimed.path.write_text(json.dumps(record))
    [failed] = retrain_requests.recover_dead_claims(paths, "watcher")
    assert failed["status"] == "failed" and f"pid {dead.pid}" in failed["outcome_reason"]
    assert retrain_requests.recover_dead_claims(paths, "watcher") == []
    assert retrain_requests.running(paths) == []


def test_a_live_claim_is_left_alone(tmp_path):
    paths = StatePaths(tmp_path)
    retrain_requests.file_request(paths, request(), "router")
    retrain_requests.claim(paths, "me")  # this process: alive
    assert retrain_requests.recover_dead_claims(paths, "watcher") == []
    assert len(retrain_requests.running(paths)) == 1


def test_status_shows_running_and_finished_retrains(output_root, capsys):
    from rollout.cli import main

    paths = StatePaths.for_output_root(output_root)
    retrain_requests.file_request(paths, request(1), "router")
    claimed = retrain_requests.claim(paths, "watcher-a")
    assert main(["--output-root", str(output_root), "status"]) == 0
    assert "retrain running: req-1 claimed by watcher-a" in capsys.readouterr().out
    retrain_requests.finish(paths, claimed, retrain_requests.FAILED, "not blessed", "w")
    assert main(["--output-root", str(output_root), "status"]) == 0
    out = capsys.readouterr().out
    assert "last retrain: req-1 failed: not blessed" in out and "retrain running" not in out
