"""Two processes on one data file, and a writer killed with SIGKILL at random moments."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmltui.domain.worker import CMLWorker
from cmltui.store import open_store
from tests.fixtures.workers import make_worker

REPO_ROOT = Path(__file__).resolve().parents[2]


def _child(*args: str, stdin=None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.stream_writer", *args],
        cwd=REPO_ROOT,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _probe(data_dir: Path) -> dict:
    child = _child("probe", str(data_dir))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    return json.loads(out)


def test_a_second_process_writes_while_the_first_has_the_file_open(store, frozen_clock, tmp_path):
    """The lock is held per write, never for a process's lifetime (issue 12)."""
    store.save_many([make_worker(frozen_clock, "mine")])
    report = _probe(tmp_path / "data")
    assert report == {"read_only": False, "notices": [], "write_refused": False}
    # The first process's next write keeps what the second one wrote.
    store.save_many([], meta={"after": 1})
    store.close()
    reopened = open_store(tmp_path / "data", read_only=True)
    try:
        assert reopened.get_meta("probe") == 1 and reopened.get_meta("after") == 1
        assert reopened.get("mine") is not None
    finally:
        reopened.close()


@pytest.mark.slow
def test_sigkill_during_a_stream_of_writes_leaves_a_complete_earlier_state(tmp_path):
    worker_count = 40
    rng = random.Random(20260101)
    temp = tmp_path / "cmltui.json.tmp"
    last_cycle = 0
    kills = 0
    # Kills that landed mid-write (about one in five leaves its temp file): the loop goes on,
    # within a bound, until a few have, so the unfinished-write path is always exercised.
    unfinished = 0
    left_temp = False
    while kills < 20 or (unfinished < 3 and kills < 150):
        child = _child("stream", str(tmp_path), str(worker_count))
        # The lock of the previous (killed) child must already be free.
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(rng.uniform(0, 0.05))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()

        store = open_store(tmp_path, read_only=True)
        try:
            cycle = store.get_meta("cycle")
            assert cycle >= last_cycle + 1  # the first write of this child at least
            workers = store.all_workers()
            assert len(workers) == worker_count
            for worker in workers:
                # Every worker carries the same committed cycle, and its trail matches it.
                assert worker.state.https_endpoint == f"https://w/{cycle}"
                assert len(store.events(worker.id)) == 1 + cycle
            assert len(store.events()) == worker_count * (1 + cycle)
            assert store.notices == []
        finally:
            store.close()
        last_cycle = cycle
        kills += 1
        left_temp = temp.exists()  # the read-only open above leaves it for the writer
        unfinished += left_temp
    assert unfinished >= 3, f"only {unfinished} of {kills} kills landed mid-write"
    # The next writable open moves whatever the last kill left aside, and says so.
    store = open_store(tmp_path)
    try:
        assert store.get_meta("cycle") == last_cycle
        assert not temp.exists()
        moved = [notice for notice in store.notices if "unfinished write" in notice]
        assert len(moved) == left_temp, store.notices
    finally:
        store.close()
    # Each unfinished write was kept out of the way by the next child's (or this) open, never
    # committed and never lost.
    assert len(list(tmp_path.glob("cmltui.json.tmp.leftover-*"))) == unfinished


def test_a_writer_killed_mid_stream_never_blocks_the_next(tmp_path, frozen_clock):
    child = _child("stream", str(tmp_path), "3")
    assert child.stdout.readline().strip() == "ready"
    # While it streams, another process writes too (each write waits its turn).
    assert _probe(tmp_path)["write_refused"] is False
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    child.stderr.close()
    store = open_store(tmp_path, clock=frozen_clock)
    try:
        assert not store.read_only
        store.save_many([make_worker(frozen_clock, "after")])
        assert isinstance(store.get("after"), CMLWorker)
        assert store.get_meta("probe") == 1, "the probe's write survived the stream's writes"
    finally:
        store.close()
