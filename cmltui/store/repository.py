"""The TinyDB repository of CMLWorker aggregates, with the append-only audit trail.

Three tables in one data file:

* ``workers``: one document per worker, ``CMLWorkerState.model_dump(mode="json")``;
* ``events``: the audit trail, ``{"seq", "telemetry", "envelope"}`` where ``envelope`` is the
  CloudEvents 1.0 form of a domain event and ``seq`` (also the document id) only ever grows;
* ``meta``: ``{"key", "value"}`` documents: the schema version, the last event sequence
  number, and whatever small values the controller keeps (telemetry cursors and the like).

Every mutation is applied to the in-memory document in one pass per table and committed as
ONE atomic file write (see ``AtomicJSONStorage``). The async methods serialise in the caller's
thread and write the file in a worker thread, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tinydb import TinyDB
from tinydb.table import Table

from cmltui.domain.clock import Clock, utc_now
from cmltui.domain.events import (
    DomainEvent,
    to_cloudevent,
)
from cmltui.domain.plural import noun_form, plural
from cmltui.domain.repository import CMLWorkerRepository
from cmltui.domain.worker import CMLWorker, CMLWorkerState
from cmltui.memory import bulk_load, collector_paused
from cmltui.store.atomic_storage import AtomicJSONStorage
from cmltui.store.compaction import compact_in_table, is_checkpoint
from cmltui.store.errors import StoreReadOnlyError
from cmltui.store.folder import check_data_folder
from cmltui.store.lock import DataFileLock
from cmltui.store.merge import PendingChanges
from cmltui.store.queries import StateQueries
from cmltui.store.retention import TelemetryIndex, TelemetryRetention
from cmltui.store.shared_writes import SharedFileWrites
from cmltui.store.trail import EVENTS_TABLE, TrailReads, brief_error

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DATA_FILE_NAME = "cmltui.json"
WORKERS_TABLE = "workers"
META_TABLE = "meta"
_SCHEMA_KEY = "schema_version"
_LAST_SEQ_KEY = "last_event_seq"
#: A data file this big is the process's long-lived heap (``memory.bulk_load``); 1,000 workers: 8MB
BULK_LOAD_BYTES = 1_000_000

_DocTable = dict[int, Mapping[str, Any]]
#: (sequence number, domain event, its CloudEvents envelope as JSON-ready dict)
_NumberedEvent = tuple[int, DomainEvent, dict[str, Any]]


def _apply_to_table(table: Table, updater: Callable[[_DocTable], None]) -> None:
    """Apply ``updater`` to a whole table in one pass and hand the result to the storage.

    ``Table._update_table`` is TinyDB's one private hook used here: its public per-document
    calls (``upsert`` with a Query) scan the table once per document, O(n) each, where a
    refresh cycle of 1,000 workers needs one O(n) pass for all of them.
    """
    table._update_table(updater)


class TinyDbWorkerRepository(SharedFileWrites, TrailReads, StateQueries, CMLWorkerRepository):
    """Workers and their audit trail in one TinyDB file, written atomically, one writer at a time.

    Any number of processes share the file: each write is a transaction (lock, merge what
    another process wrote meanwhile, write, unlock; see ``cmltui.store.merge``). ``read_only``
    is True when asked, or when the file could not be made safe; a read-only store never writes.
    ``notices`` holds the messages the operator should see.
    """

    def __init__(
        self,
        data_file: Path,
        *,
        clock: Clock = utc_now,
        read_only: bool = False,
        retention: TelemetryRetention | None = None,
        lock_wait_seconds: float = 10.0,
    ) -> None:
        self.path = Path(data_file)
        self.notices: list[str] = []
        #: Worker documents skipped at load because they failed validation (kept in the file).
        self.skipped_worker_ids: list[str] = []
        self._clock = clock
        self._retention = retention or TelemetryRetention()
        self._mutation_lock = threading.RLock()
        self._lock = DataFileLock(self.path.with_name(self.path.name + ".lock"))
        self._lock_wait_seconds = lock_wait_seconds
        #: What this process staged since its last write reached the disk (see ``merge``).
        self._pending = PendingChanges()
        #: Workers whose stored state another process changed (the controller rebases them).
        self._refreshed_ids: set[str] = set()
        self._removed_ids: set[str] = set()
        #: Workers forgotten (here or by another process) while this store was open: a stale
        #: copy saved later never brings one back (its events still reach the trail).
        self._forgotten_ids: set[str] = set()
        opening: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if not read_only:
            check_data_folder(self.path)  # StoreFolderError: one line, nothing opened
            # Opened under the lock: a temp file seen now is a crash's leftover, never the
            # write in progress of another cmltui.
            opening = self._locked(opening=True)
        # The document and the states validated from it live as long as the store.
        big = self.path.is_file() and self.path.stat().st_size >= BULK_LOAD_BYTES
        with bulk_load(keep=big):
            with opening:
                self._db = TinyDB(
                    self.path,
                    storage=AtomicJSONStorage,
                    read_only=read_only,
                    clock=clock,
                    notices=self.notices,
                    append_only_tables=frozenset({EVENTS_TABLE}),
                )
            self._storage: AtomicJSONStorage = self._db.storage  # type: ignore[assignment]
            self._workers_table = self._db.table(WORKERS_TABLE, cache_size=0)
            self._events_table = self._db.table(EVENTS_TABLE, cache_size=0)
            self._meta_table = self._db.table(META_TABLE, cache_size=0)
            self._build_indexes()
        self._check_schema()

    # ------------------------------------------------------------------ status
    @property
    def read_only(self) -> bool:
        return self._storage.read_only

    @property
    def read_only_reason(self) -> str:
        """Why the store refuses writes ("" when it does not, or when it was asked to)."""
        return self._storage.read_only_reason if self.read_only else ""

    @property
    def pending_write(self) -> bool:
        """True when the last write failed (or none happened yet) and memory is ahead of disk."""
        return self._storage.pending_write

    @property
    def write_count(self) -> int:
        """Number of times the data file was replaced since opening."""
        return self._storage.write_count

    @property
    def storage(self) -> AtomicJSONStorage:
        return self._storage

    def reload(self) -> None:
        """Read the data file again (for a read-only view following the cmltui that writes)."""
        if not self.read_only:
            raise RuntimeError("only a read-only store reloads; a writer's memory is the truth")
        self.skipped_worker_ids = []
        with collector_paused():
            self._storage.reload()
            self._build_indexes()

    def close(self) -> None:
        """Write anything pending (a failed write still raises)."""
        try:
            if not self.read_only and self.pending_write:
                self._transaction()
        finally:
            self._lock.release()

    def __enter__(self) -> TinyDbWorkerRepository:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ loading
    def _raw(self, table_name: str) -> dict[str, Any]:
        return self._storage.read().get(table_name, {})

    def _build_indexes(self) -> None:
        #: worker id -> TinyDB doc id, so a save never searches the table.
        self._worker_doc_ids: dict[str, int] = {}
        #: worker id -> validated state (copied out on every read; never shared).
        self._states: dict[str, CMLWorkerState] = {}
        self._next_worker_doc_id = 1
        for raw_id, doc in self._raw(WORKERS_TABLE).items():
            doc_id = int(raw_id)
            self._next_worker_doc_id = max(self._next_worker_doc_id, doc_id + 1)
            worker_id = doc.get("id")
            if isinstance(worker_id, str) and worker_id:
                self._worker_doc_ids[worker_id] = doc_id
            try:
                state = CMLWorkerState.model_validate(doc)
                if not state.id:
                    raise ValueError("the document has no worker id")
            except (ValidationError, ValueError) as err:
                label = worker_id if isinstance(worker_id, str) else f"document {doc_id}"
                self.skipped_worker_ids.append(str(label))
                problem = brief_error(err)
                self._warn(f"stored worker {label} is unreadable and was skipped: {problem}")
                continue
            self._states[state.id] = state

        self._meta_doc_ids: dict[str, int] = {}
        self._next_meta_doc_id = 1
        for raw_id, doc in self._raw(META_TABLE).items():
            self._meta_doc_ids[str(doc.get("key"))] = int(raw_id)
            self._next_meta_doc_id = max(self._next_meta_doc_id, int(raw_id) + 1)

        #: worker id -> its event doc ids in order (a dict used as an ordered set).
        self._event_ids_by_worker: dict[str, dict[int, None]] = {}
        #: worker id -> doc id of its telemetry checkpoint (see ``compaction``).
        self._checkpoints: dict[str, int] = {}
        self._telemetry = TelemetryIndex()
        last_seq = self.get_meta(_LAST_SEQ_KEY, 0)
        self._last_seq = last_seq if isinstance(last_seq, int) else 0
        unreadable_events = 0
        for raw_id, doc in sorted(self._raw(EVENTS_TABLE).items(), key=lambda kv: int(kv[0])):
            doc_id = int(raw_id)
            self._last_seq = max(self._last_seq, doc_id)
            envelope = doc.get("envelope")
            worker_id = envelope.get("subject") if isinstance(envelope, dict) else None
            if not isinstance(worker_id, str):
                unreadable_events += 1
                continue
            self._event_ids_by_worker.setdefault(worker_id, {})[doc_id] = None
            if is_checkpoint(doc):
                self._checkpoints[worker_id] = doc_id
            elif doc.get("telemetry"):
                try:
                    when = datetime.fromisoformat(envelope["time"])
                except (KeyError, TypeError, ValueError):
                    when = self._clock()  # undatable: retention still bounds it by count
                self._telemetry.add(worker_id, doc_id, when)
        if unreadable_events:
            count = plural(unreadable_events, "stored event")
            has, be = (
                noun_form(unreadable_events, "has", "have"),
                noun_form(unreadable_events, "is", "are"),
            )
            self._warn(f"{count} {has} no worker id and {be} ignored")

    def _check_schema(self) -> None:
        version = self.get_meta(_SCHEMA_KEY, SCHEMA_VERSION)
        if isinstance(version, int) and version > SCHEMA_VERSION and not self.read_only:
            self._storage.read_only = True
            self._storage.read_only_reason = (
                f"{self.path} was written by a newer cmltui (schema {version})"
            )
            self._lock.release()
            self.notices.append(
                f"{self.path} was written by a newer cmltui (schema {version}, this one knows "
                f"{SCHEMA_VERSION}); opened read-only so that nothing is lost"
            )

    def _warn(self, message: str) -> None:
        log.warning(message)
        self.notices.append(message)

    # ------------------------------------------------------------------ the one write path
    def _require_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnlyError(
                f"{self.path} is open read-only (another cmltui holds it, or it could not be "
                "made safe); nothing was changed"
            )

    def _stage(
        self,
        workers: Iterable[CMLWorker] = (),
        *,
        deleted_worker_ids: Iterable[str] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> int:
        """Apply a whole change to the in-memory document without writing the file.

        Returns the number of events added. The caller commits (sync or in a thread).
        """
        self._require_writable()
        workers = list(workers)
        deleted_ids = set(deleted_worker_ids)
        deleted = [wid for wid in deleted_ids if wid in self._worker_doc_ids]
        # Everything that can fail is computed before anything is changed or pulled.
        not_kept = deleted_ids | self._forgotten_ids
        kept = [w for w in workers if w.id not in not_kept]
        worker_docs = {w.id: w.state.model_dump(mode="json") for w in kept}
        states = {w.id: w.state.model_copy() for w in kept}
        staged_events: list[tuple[DomainEvent, dict[str, Any]]] = [
            (event, to_cloudevent(event).model_dump(mode="json"))
            for w in workers
            for event in w.uncommitted_events
        ]
        for w in workers:
            w.pull_uncommitted_events()

        meta_updates = dict(meta or {})
        if self.get_meta(_SCHEMA_KEY) is None:
            meta_updates.setdefault(_SCHEMA_KEY, SCHEMA_VERSION)

        with self._mutation_lock, self._storage.batch(commit=False):
            for worker_id in worker_docs:
                if worker_id not in self._pending.base_versions:
                    known = self._states.get(worker_id)
                    self._pending.base_versions[worker_id] = known.version if known else None
            self._pending.deleted_ids.update(deleted)
            self._forgotten_ids.update(deleted)
            self._pending.meta_keys.update(meta_updates)
            if worker_docs or deleted:
                _apply_to_table(
                    self._workers_table,
                    lambda table: self._upsert_workers(table, worker_docs, deleted),
                )
                self._states.update(states)
                for worker_id in deleted:
                    self._states.pop(worker_id, None)
            numbered, dropped = self._number_new_events(staged_events)
            if numbered or dropped:
                _apply_to_table(
                    self._events_table,
                    lambda table: self._append_events(table, numbered, dropped),
                )
                meta_updates[_LAST_SEQ_KEY] = self._last_seq
            if meta_updates:
                _apply_to_table(self._meta_table, lambda table: self._set_meta(table, meta_updates))
        return len(staged_events)

    def _upsert_workers(
        self, table: _DocTable, worker_docs: dict[str, dict[str, Any]], deleted: list[str]
    ) -> None:
        for worker_id, doc in worker_docs.items():
            doc_id = self._worker_doc_ids.get(worker_id)
            if doc_id is None:
                doc_id = self._next_worker_doc_id
                self._next_worker_doc_id += 1
                self._worker_doc_ids[worker_id] = doc_id
            table[doc_id] = doc
        for worker_id in deleted:
            table.pop(self._worker_doc_ids.pop(worker_id), None)

    def _number_new_events(
        self, staged_events: list[tuple[DomainEvent, dict[str, Any]]]
    ) -> tuple[list[_NumberedEvent], list[tuple[str, int]]]:
        """Give the new events their sequence numbers, index them, and list what retention drops."""
        numbered: list[_NumberedEvent] = []
        for event, envelope in staged_events:
            self._last_seq += 1
            numbered.append((self._last_seq, event, envelope))
            self._event_ids_by_worker.setdefault(event.aggregate_id, {})[self._last_seq] = None
            if event.IS_TELEMETRY:
                self._telemetry.add(event.aggregate_id, self._last_seq, event.occurred_at)
        unwritten = {*self._pending.event_seqs, *(seq for seq, _, _ in numbered)}
        return numbered, self._telemetry.expired(self._retention, self._clock(), unwritten)

    def _append_events(
        self, table: _DocTable, numbered: list[_NumberedEvent], dropped: list[tuple[str, int]]
    ) -> None:
        for seq, event, envelope in numbered:
            table[seq] = {"seq": seq, "telemetry": event.IS_TELEMETRY, "envelope": envelope}
            self._pending.event_seqs.append(seq)
        # What retention drops (always on disk) becomes one checkpoint per worker, so that a
        # replay still rebuilds the stored state.
        dropped_by_worker: dict[str, list[int]] = {}
        for worker_id, doc_id in dropped:
            dropped_by_worker.setdefault(worker_id, []).append(doc_id)
        for worker_id, doc_ids in dropped_by_worker.items():
            removed, checkpoint_id = compact_in_table(
                table, sorted(doc_ids), self._checkpoints.get(worker_id)
            )
            for doc_id in removed:
                self._event_ids_by_worker.get(worker_id, {}).pop(doc_id, None)
                self._pending.dropped_seqs.add(doc_id)
            if checkpoint_id is not None:
                self._checkpoints[worker_id] = checkpoint_id
                self._pending.replaced_seqs.add(checkpoint_id)

    def _set_meta(self, table: _DocTable, updates: Mapping[str, Any]) -> None:
        for key, value in updates.items():
            doc_id = self._meta_doc_ids.get(key)
            if doc_id is None:
                doc_id = self._next_meta_doc_id
                self._next_meta_doc_id += 1
                self._meta_doc_ids[key] = doc_id
            table[doc_id] = {"key": key, "value": value}

    async def _commit_async(self) -> None:
        if not self._storage.pending_write:
            return
        # Locking, merging and serialising 1,000 workers take tens of ms: all of it runs in
        # the writer thread, so the event loop never waits on the disk or the lock.
        await asyncio.to_thread(self._transaction)

    # ------------------------------------------------------------------ sync API
    def save_many(
        self, workers: Iterable[CMLWorker], *, meta: Mapping[str, Any] | None = None
    ) -> int:
        """Save workers, their new events and ``meta`` values in ONE write; returns events saved.

        On ``StoreWriteError`` nothing is lost: memory keeps it and the next write retries.
        """
        saved = self._stage(workers, meta=meta)
        self._transaction()
        return saved

    def delete(self, worker_id: str, worker: CMLWorker | None = None) -> bool:
        """Forget a worker (its events stay in the audit trail). False when it was not stored."""
        existed = worker_id in self._worker_doc_ids
        # The worker's last events (if given) go to the audit trail in the same write.
        self._stage([worker] if worker else [], deleted_worker_ids=[worker_id])
        self._transaction()
        return existed

    def flush(self) -> bool:
        """Retry a write that failed earlier. True when the file was written."""
        self._require_writable()
        return self.pending_write and self._transaction()

    def set_meta(self, key: str, value: Any) -> None:
        """Keep a small JSON value (e.g. a telemetry cursor) in the data file; one write."""
        self._stage(meta={key: value})
        self._transaction()

    def get_meta(self, key: str, default: Any = None) -> Any:
        doc_id = self._meta_doc_ids.get(key)
        if doc_id is None:
            return default
        doc = self._raw(META_TABLE).get(str(doc_id))
        return doc.get("value", default) if doc else default

    def all_workers(self) -> list[CMLWorker]:
        return [self._rehydrate(state) for state in self._states.values()]

    def get(self, worker_id: str) -> CMLWorker | None:
        state = self._states.get(worker_id)
        return self._rehydrate(state) if state else None

    def _rehydrate(self, state: CMLWorkerState) -> CMLWorker:
        # A copy: callers mutate their aggregate; the stored state changes only on save.
        return CMLWorker.from_state(state.model_copy(), clock=self._clock)

    # ------------------------------------------------------------------ the seed's interface
    def _known_states(self) -> list[CMLWorkerState]:
        return list(self._states.values())

    async def delete_async(self, worker_id: str, worker: CMLWorker | None = None) -> bool:
        existed = worker_id in self._worker_doc_ids
        self._stage([worker] if worker else [], deleted_worker_ids=[worker_id])
        await self._commit_async()
        return existed

    async def save_many_async(
        self, entities: list[CMLWorker], *, meta: Mapping[str, Any] | None = None
    ) -> int:
        """``save_many`` with the file write done in a worker thread."""
        saved = self._stage(entities, meta=meta)
        await self._commit_async()
        return saved

    async def set_meta_async(self, key: str, value: Any) -> None:
        self._stage(meta={key: value})
        await self._commit_async()

    async def flush_async(self) -> bool:
        self._require_writable()
        if not self._storage.pending_write:
            return False
        await self._commit_async()
        return True


def open_store(
    data_dir: Path,
    *,
    clock: Clock = utc_now,
    read_only: bool = False,
    retention: TelemetryRetention | None = None,
) -> TinyDbWorkerRepository:
    """Open (or create) ``<data_dir>/cmltui.json``; the folder is created with mode 0700."""
    return TinyDbWorkerRepository(
        Path(data_dir) / DATA_FILE_NAME, clock=clock, read_only=read_only, retention=retention
    )
