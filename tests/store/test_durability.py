"""Durability of the data file: atomic batched writes, permissions, corruption, write failures."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from tinydb import TinyDB

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.store import AtomicJSONStorage, StoreWriteError, open_store
from tests.fixtures.workers import make_worker

CORRUPT_STAMP = "20260101T120000Z"  # the frozen clock's time, in the moved-aside name


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- the storage itself
def test_batch_of_many_table_operations_is_one_write(tmp_path):
    db = TinyDB(tmp_path / "db.json", storage=AtomicJSONStorage)
    storage: AtomicJSONStorage = db.storage
    with storage.batch():
        for i in range(50):
            db.table("a").insert({"n": i})
            db.table("b").insert({"n": -i})
        assert storage.write_count == 0 and storage.pending_write
    assert storage.write_count == 1
    assert not storage.pending_write
    on_disk = json.loads((tmp_path / "db.json").read_text())
    assert len(on_disk["a"]) == 50 and len(on_disk["b"]) == 50

    db.table("a").insert({"n": 99})  # outside a batch: one write per operation
    assert storage.write_count == 2


def test_a_batch_that_raises_writes_nothing(tmp_path):
    db = TinyDB(tmp_path / "db.json", storage=AtomicJSONStorage)
    with pytest.raises(RuntimeError), db.storage.batch():
        db.table("a").insert({"n": 1})
        raise RuntimeError("boom")
    assert db.storage.write_count == 0
    assert not (tmp_path / "db.json").exists()
    assert db.storage.pending_write  # the next write carries it


def test_an_older_payload_never_overwrites_a_newer_one(tmp_path):
    db = TinyDB(tmp_path / "db.json", storage=AtomicJSONStorage)
    storage: AtomicJSONStorage = db.storage
    with storage.batch(commit=False):
        db.table("a").insert({"n": 1})
    old_payload, old_generation = storage.serialize()
    db.table("a").insert({"n": 2})  # commits generation 2
    assert storage.commit(old_payload, old_generation) is False
    assert len(json.loads((tmp_path / "db.json").read_text())["a"]) == 2


def test_each_write_replaces_the_file_by_rename(store, frozen_clock):
    store.save_many([make_worker(frozen_clock, "w1")])
    first_inode = store.path.stat().st_ino
    store.save_many([make_worker(frozen_clock, "w2")])
    assert store.path.stat().st_ino != first_inode  # a new file, not an in-place rewrite
    assert not store.storage.temp_path.exists()


def test_file_is_0600_and_new_folder_is_0700(tmp_path, frozen_clock):
    old_umask = os.umask(0o022)
    try:
        data_dir = tmp_path / "deep" / "data"
        store = open_store(data_dir, clock=frozen_clock)
        store.save_many([make_worker(frozen_clock, "w")])
        assert _mode(data_dir) == 0o700
        assert _mode(store.path) == 0o600
        assert _mode(Path(str(store.path) + ".lock")) == 0o600
        store.close()
    finally:
        os.umask(old_umask)


# ---------------------------------------------------------------- corruption
def _save_one_worker(data_dir, clock):
    store = open_store(data_dir, clock=clock)
    store.save_many([make_worker(clock, "w")])
    store.close()
    return data_dir / "cmltui.json"


def _truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


DAMAGE = {
    "truncated": _truncated,
    "garbage": lambda good: b"\x00\xffnot json at all{{{",
    "whitespace": lambda good: b"   \n\t  \n",
    "empty": lambda good: b"",
    "json list": lambda good: b"[1, 2, 3]",
    "tables not objects": lambda good: b'{"workers": [1, 2], "events": {}}',
    "document not an object": lambda good: b'{"workers": {"1": "text"}}',
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_file_is_moved_aside_and_the_store_starts_empty(tmp_path, frozen_clock, kind):
    data_file = _save_one_worker(tmp_path, frozen_clock)
    damaged_bytes = DAMAGE[kind](data_file.read_bytes())
    data_file.write_bytes(damaged_bytes)

    store = open_store(tmp_path, clock=frozen_clock)
    try:
        aside = tmp_path / f"cmltui.json.corrupt-{CORRUPT_STAMP}"
        assert aside.read_bytes() == damaged_bytes  # preserved byte for byte
        assert store.all_workers() == []
        assert not store.read_only
        assert len(store.notices) == 1
        assert str(data_file) in store.notices[0] and str(aside) in store.notices[0]
        # The store works normally from there.
        store.save_many([make_worker(frozen_clock, "new")])
        assert [
            w.id for w in open_store(tmp_path, clock=frozen_clock, read_only=True).all_workers()
        ] == ["new"]
    finally:
        store.close()


def test_two_damaged_files_in_the_same_second_get_distinct_names(tmp_path, frozen_clock):
    for _ in range(2):
        (tmp_path / "cmltui.json").write_bytes(b"garbage")
        open_store(tmp_path, clock=frozen_clock).close()
    assert (tmp_path / f"cmltui.json.corrupt-{CORRUPT_STAMP}").exists()
    assert (tmp_path / f"cmltui.json.corrupt-{CORRUPT_STAMP}-1").exists()


def test_half_written_temp_file_beside_a_good_file(tmp_path, frozen_clock):
    data_file = _save_one_worker(tmp_path, frozen_clock)
    good = data_file.read_bytes()
    temp = tmp_path / "cmltui.json.tmp"
    temp.write_bytes(good[: len(good) // 3])

    store = open_store(tmp_path, clock=frozen_clock)
    try:
        assert [w.id for w in store.all_workers()] == ["w"]
        assert not temp.exists()
        aside = tmp_path / f"cmltui.json.tmp.leftover-{CORRUPT_STAMP}"
        assert aside.read_bytes() == good[: len(good) // 3]
        assert data_file.read_bytes() == good  # the good file was not touched
        assert len(store.notices) == 1 and str(aside) in store.notices[0]
    finally:
        store.close()


def test_read_only_view_leaves_a_damaged_file_in_place(tmp_path, frozen_clock):
    data_file = tmp_path / "cmltui.json"
    data_file.write_bytes(b"{broken")
    viewer = open_store(tmp_path, clock=frozen_clock, read_only=True)
    try:
        assert data_file.read_bytes() == b"{broken"
        assert viewer.all_workers() == []
        assert "damaged" in viewer.notices[0]
    finally:
        viewer.close()


# ---------------------------------------------------------------- write failures
def _block_writes_with_a_directory(store):
    """Make the data file path a directory: the rename fails, as root too."""
    store.path.unlink()
    store.path.mkdir()
    (store.path / "keep").write_text("x")

    def undo():
        (store.path / "keep").unlink()
        store.path.rmdir()

    return undo


def _block_writes_with_a_read_only_folder(store):
    if os.geteuid() == 0:
        pytest.skip("running as root: a read-only folder does not stop root's writes")
    folder = store.path.parent
    folder.chmod(0o500)
    return lambda: folder.chmod(0o700)


@pytest.mark.parametrize(
    "block", [_block_writes_with_a_directory, _block_writes_with_a_read_only_folder]
)
async def test_write_failure_keeps_memory_and_the_next_write_retries(store, frozen_clock, block):
    first = make_worker(frozen_clock, "first")
    store.save_many([first])
    undo = block(store)
    try:
        second = make_worker(frozen_clock, "second")
        first.update_status(CMLWorkerStatus.STOPPING)
        with pytest.raises(StoreWriteError, match="kept in memory"):
            await store.save_many_async([first, second])
        assert store.pending_write
        # Nothing is lost: memory has both changes and the audit trail.
        assert sorted(w.id for w in store.all_workers()) == ["first", "second"]
        assert store.get("first").state.status == CMLWorkerStatus.STOPPING
        assert not store.storage.temp_path.exists()
        with pytest.raises(StoreWriteError):
            store.flush()
    finally:
        undo()
    writes_before = store.write_count
    store.save_many([])  # the next write retries the whole document
    assert store.write_count == writes_before + 1
    assert not store.pending_write
    reopened_state = json.loads(store.path.read_text())
    assert sorted(d["id"] for d in reopened_state["workers"].values()) == ["first", "second"]
    statuses = {d["id"]: d["status"] for d in reopened_state["workers"].values()}
    assert statuses["first"] == "stopping"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(b"\xff\xfe{}", "it is not UTF-8 text"), (b'{"workers": {', "it is not valid JSON (")],
)
def test_a_damaged_file_says_why(tmp_path, frozen_clock, damage, reason):
    data_file = _save_one_worker(tmp_path, frozen_clock)
    data_file.write_bytes(damage)
    store = open_store(tmp_path, clock=frozen_clock)
    try:
        assert f"was damaged ({reason}" in store.notices[0]
    finally:
        store.close()


def test_repeated_strings_of_the_loaded_document_are_one_object(tmp_path, frozen_clock):
    """The trail repeats its worker ids, event types and sources: loaded, each is one string
    object, not one per event (the document is most of a big fleet's memory)."""
    store = open_store(tmp_path, clock=frozen_clock)
    store.save_many([make_worker(frozen_clock, "w"), make_worker(frozen_clock, "v")])
    store.close()
    reopened = open_store(tmp_path, clock=frozen_clock, read_only=True)
    envelopes = [doc["envelope"] for doc in reopened.storage.read()["events"].values()]
    assert len(envelopes) > 2
    first = envelopes[0]
    assert all(e["source"] is first["source"] for e in envelopes)
    same_subject = [e for e in envelopes if e["subject"] == first["subject"]]
    assert len(same_subject) > 1 and all(e["subject"] is first["subject"] for e in same_subject)


def test_the_document_is_written_in_pieces_that_make_the_same_bytes(tmp_path, frozen_clock):
    """serialize gives pieces (no joined copy of a big document in memory), written one after
    the other: the file is byte for byte the compact JSON of the document, again after an
    append reuses the cached pieces of the trail."""
    store = open_store(tmp_path, clock=frozen_clock)
    try:
        store.save_many([make_worker(frozen_clock, "w")])
        worker = store.get("w")
        worker.update_status(CMLWorkerStatus.STOPPED)
        store.save_many([worker])
        pieces, _ = store.storage.serialize()
        assert isinstance(pieces, list) and len(pieces) > 3
        document = store.storage.read()
        compact = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        assert b"".join(pieces) == compact.encode("utf-8")
        assert (tmp_path / "cmltui.json").read_bytes() == compact.encode("utf-8")
    finally:
        store.close()


def test_every_table_is_serialised_one_document_at_a_time(tmp_path, frozen_clock):
    """The JSON encoder holds the interpreter lock for a whole call: one call for a whole
    table of 1,000 workers held it 7.5 ms, and the dashboard's UI waited that long. No piece
    holds two workers; together they are still the compact JSON of the document."""
    store = open_store(tmp_path, clock=frozen_clock)
    try:
        names = [f"worker-{n}" for n in range(3)]
        store.save_many([make_worker(frozen_clock, name) for name in names])
        pieces, _ = store.storage.serialize()
        assert all(sum(name.encode() in piece for name in names) <= 1 for piece in pieces)
        assert sum(any(name.encode() in piece for name in names) for piece in pieces) >= 3
        compact = json.dumps(store.storage.read(), separators=(",", ":"), ensure_ascii=False)
        assert b"".join(pieces) == compact.encode("utf-8")
    finally:
        store.close()
