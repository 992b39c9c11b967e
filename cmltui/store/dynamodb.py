"""The DynamoDB repository of CMLWorker aggregates: a team's shared store (``[store] backend =
"dynamodb"``). The table's layout is in ``dynamodb_schema``, the write path in ``dynamodb_writes``.

The same port as ``TinyDbWorkerRepository`` (``cmltui.services.ports.FleetStore`` and the seed's
``CMLWorkerRepository``): workers are read once at open and kept in memory (the last stored state
of each); ``sync`` catches up with what other processes wrote. A save serialises the workers and
takes their new events in the caller's thread, then writes in a worker thread (boto3 is
synchronous). Every write is conditioned on the version this process last saw:

* on a conflict (another process saved the worker meanwhile) the worker is reloaded, this
  process's events are applied on top of the stored state (the aggregate changes only by its
  events) and the write is tried again, up to ``REBASE_ROUNDS`` times; the worker is then
  reported by ``take_refreshed`` so that the controller rebases its aggregate. With
  ``rebase=False`` the conflict is raised (``StoreConflictError``) and the changes are kept;
* a write whose answer was lost (it did land) is recognised by its event ids, never repeated;
* a worker another process forgot stays forgotten: its last events still reach the trail;
* nothing is ever overwritten without the version check.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cmltui.domain.clock import Clock, utc_now
from cmltui.domain.events import CloudEvent, to_cloudevent
from cmltui.domain.lease import LeaseView, PollMark
from cmltui.domain.rebase import lay_over
from cmltui.domain.repository import CMLWorkerRepository
from cmltui.domain.worker import CMLWorker, CMLWorkerState
from cmltui.store import dynamodb_lease
from cmltui.store import dynamodb_reads as reads
from cmltui.store.dynamodb_errors import StoreConflictError
from cmltui.store.dynamodb_retention import TelemetryTrimmer, trim_worker
from cmltui.store.dynamodb_schema import day_of, event_increment
from cmltui.store.dynamodb_trail import TrailCache
from cmltui.store.dynamodb_writes import PendingWorker, write_pending
from cmltui.store.errors import StoreError, StoreReadOnlyError
from cmltui.store.queries import StateQueries

log = logging.getLogger(__name__)

#: How many times a conflicting save is reloaded and re-applied before it is reported.
REBASE_ROUNDS = 5


class DynamoDbWorkerRepository(StateQueries, CMLWorkerRepository):
    """Workers and their event trail in one DynamoDB table shared by a team."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        clock: Clock = utc_now,
        read_only: bool = False,
        retention: TelemetryTrimmer | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.notices: list[str] = []
        self._clock = clock
        self._read_only = read_only
        #: worker id -> the state the table held when this process last read or wrote it.
        self._known: dict[str, CMLWorkerState] = {}
        self._pending: dict[str, PendingWorker] = {}
        self._refreshed_ids: set[str] = set()
        self._removed_ids: set[str] = set()
        self._forgotten_ids: set[str] = set()
        self._days_noted: set[str] = set()
        self._event_cache: dict[str, list[CloudEvent]] = {}
        #: Each worker's trail in memory, for the dashboard (``cached_events``).
        self._trails = TrailCache()
        #: Old telemetry folded into checkpoints (``dynamodb_retention``).
        self._trimmer = retention or TelemetryTrimmer()
        #: The runner's poll mark, stored after the next write that succeeds (see ``_write``).
        self._mark_pending: PollMark | None = None
        self._mutation_lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._load()

    # ------------------------------------------------------------------ status
    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def read_only_reason(self) -> str:
        return ""

    @property
    def pending_write(self) -> bool:
        return bool(self._pending) or self._mark_pending is not None

    def _call(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        return reads.guarded(self.table, call, *args, **kwargs)

    def _load(self) -> None:
        versions = self._call(reads.worker_versions, self.client, self.table)
        states = self._call(reads.get_states, self.client, self.table, versions, self.notices)
        self._known = states

    def close(self) -> None:
        """Write anything pending (a failed write still raises)."""
        if not self._read_only and self._pending:
            self.flush()

    def __enter__(self) -> DynamoDbWorkerRepository:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ staging
    def _require_writable(self) -> None:
        if self._read_only:
            raise StoreReadOnlyError(
                f"the DynamoDB table {self.table} is open read-only; nothing was changed"
            )

    def _stage(self, workers: Iterable[CMLWorker], *, delete_id: str | None = None) -> int:
        """Take the workers' new events and states (in the caller's thread); returns events."""
        self._require_writable()
        staged = 0
        with self._mutation_lock:
            for worker in workers:
                events = worker.pull_uncommitted_events()
                staged += len(events)
                pairs = [(e, to_cloudevent(e)) for e in events]
                state = worker.state.model_copy(deep=True)
                pending = self._pending.get(worker.id)
                if pending is not None:
                    pending.events.extend(pairs)
                    if pending.state is not None:
                        pending.state = state
                    continue
                if not events:
                    continue  # nothing new: a state changes only by events
                base = state.version - sum(event_increment(e) for e in events)
                known = self._known.get(worker.id)
                forgotten = worker.id in self._forgotten_ids
                self._pending[worker.id] = PendingWorker(
                    worker.id,
                    base,
                    None if forgotten else state,
                    pairs,
                    base_state=known if known and known.version == base else None,
                )
            if delete_id is not None:
                pending = self._pending.get(delete_id)
                known = self._known.get(delete_id)
                if pending is None and known is not None:
                    pending = PendingWorker(delete_id, known.version, known, base_state=known)
                    self._pending[delete_id] = pending
                if pending is not None:
                    pending.delete = True
        return staged

    # ------------------------------------------------------------------ writing
    def _write(self, *, rebase: bool = True) -> None:
        """Write everything pending (runs in any thread; one writer at a time)."""
        with self._write_lock:
            for _ in range(REBASE_ROUNDS):
                self._note_days()
                conflicts = self._call(
                    write_pending,
                    self.client,
                    self.table,
                    self._pending,
                    on_written=self._written,
                )
                if not conflicts:
                    self._put_pending_mark()
                    self._trim_telemetry()
                    return
                if not rebase:
                    raise StoreConflictError(conflicts, "the changes are kept in memory")
                for worker_id in sorted(conflicts):
                    self._rebase(worker_id)
            if self._pending:
                raise StoreConflictError(
                    self._pending, "other writers kept changing them; the next write retries"
                )

    def _note_days(self) -> None:
        """Add the days of the new events to the table's list of days (read by time)."""
        days = {
            day_of(envelope.time) for p in self._pending.values() for _, envelope in p.events
        } - self._days_noted
        if days:
            self._call(reads.note_event_days, self.client, self.table, days)
            self._days_noted |= days

    def _put_pending_mark(self) -> None:
        """The poll mark vouches for figures this process read: it is stored only once they
        are (a mark over figures that failed to save would make the others show old ones)."""
        mark, self._mark_pending = self._mark_pending, None
        if mark is not None:
            try:
                self._call(dynamodb_lease.put_poll_mark, self.client, self.table, mark)
            except StoreError as err:  # the others poll for themselves until the next one
                log.warning("poll mark not stored: %s", err)

    def _trim_telemetry(self) -> None:
        """Fold the old telemetry of the workers due a trim (in the writing thread)."""
        for worker_id, upto in self._trimmer.due(self._clock()).items():
            try:
                removed = self._call(trim_worker, self.client, self.table, worker_id, upto)
            except StoreError as err:  # kept as it is; the next trim of the worker folds it
                log.warning("telemetry of %s not trimmed: %s", worker_id, err)
                continue
            if removed:
                with self._mutation_lock:
                    self._event_cache.pop(worker_id, None)

    def _written(self, p: PendingWorker, state: CMLWorkerState | None, version: int) -> None:
        self._trails.append_written(p.worker_id, p.written)
        for _, written_version, telemetry, envelope in p.written:
            if telemetry:
                self._trimmer.note(p.worker_id, written_version, envelope.time)
        if p.delete:
            self._trimmer.forget(p.worker_id)
        with self._mutation_lock:
            self._event_cache.pop(p.worker_id, None)
            if p.delete:
                self._known.pop(p.worker_id, None)
                self._forgotten_ids.add(p.worker_id)
            elif state is not None:
                self._known[p.worker_id] = state.model_copy(deep=True)

    def _rebase(self, worker_id: str) -> None:
        """Another process wrote this worker: take the table's state and lay ours over it."""
        p = self._pending[worker_id]
        stored = self._call(reads.get_state, self.client, self.table, worker_id)
        top = stored.version if stored is not None else None
        if top is None:
            top = self._call(reads.last_event_version, self.client, self.table, worker_id)
        # A write whose answer was lost landed already: drop the events it carried.
        landed = self._call(
            reads.event_ids_between, self.client, self.table, worker_id, p.base_version, top
        )
        while p.events and p.events[0][1].id in landed:
            _event, envelope = p.events.pop(0)
            p.base_version = landed[envelope.id]
        log.info("version conflict on worker %s: reloaded and re-applied", worker_id)
        with self._mutation_lock:
            if stored is None:  # forgotten by another process (or never stored): events only
                p.state, p.delete, p.base_state = None, False, None
                p.base_version = top
                if self._known.pop(worker_id, None) is not None:
                    self._removed_ids.add(worker_id)
                self._forgotten_ids.add(worker_id)
                if not p.events:
                    self._pending.pop(worker_id, None)
                return
            # Ours that add nothing there (a second creation, an answered action's outcome,
            # the same observation) are left out: nothing is recorded twice.
            state, kept = lay_over(stored, [event for event, _ in p.events])
            p.events = [p.events[index] for index in kept]
            p.base_version, p.base_state = stored.version, stored
            if p.state is not None:
                p.state = state
            self._known[worker_id] = stored
            self._refreshed_ids.add(worker_id)
            if not p.events and not p.delete:
                self._pending.pop(worker_id, None)

    # ------------------------------------------------------------------ sync API
    def save_many(
        self,
        workers: Iterable[CMLWorker],
        *,
        meta: Mapping[str, Any] | None = None,
        rebase: bool = True,
    ) -> int:
        """Save workers and their new events (``TransactWriteItems``, version-checked);
        returns the events saved. ``meta`` is not kept by this store."""
        saved = self._stage(workers)
        self._write(rebase=rebase)
        return saved

    def delete(self, worker_id: str, worker: CMLWorker | None = None) -> bool:
        """Forget a worker's record; its events (``worker``'s last ones too) stay."""
        existed = worker_id in self._known
        self._stage([worker] if worker else [], delete_id=worker_id)
        self._write()
        return existed

    def flush(self) -> bool:
        self._require_writable()
        if not self.pending_write:
            return False
        self._write()
        return True

    def all_workers(self) -> list[CMLWorker]:
        with self._mutation_lock:
            return [self._rehydrate(s) for s in self._known.values()]

    def get(self, worker_id: str) -> CMLWorker | None:
        state = self._known.get(worker_id)
        return self._rehydrate(state) if state else None

    def _rehydrate(self, state: CMLWorkerState) -> CMLWorker:
        return CMLWorker.from_state(state.model_copy(deep=True), clock=self._clock)

    def sync(self) -> None:
        """Write what is pending, then catch up with what other processes wrote."""
        if self._pending and not self._read_only:
            self._write()
        versions = self._call(reads.worker_versions, self.client, self.table)
        with self._mutation_lock:
            known = {wid: s.version for wid, s in self._known.items()}
        moved = [wid for wid, v in versions.items() if known.get(wid) != v]
        # The index is eventually consistent: a record missing from it is checked directly.
        missing = [wid for wid in known if wid not in versions]
        states = self._call(
            reads.get_states, self.client, self.table, [*moved, *missing], self.notices
        )
        with self._mutation_lock:
            for wid, state in states.items():
                if known.get(wid) != state.version and wid not in self._pending:
                    self._known[wid] = state
                    self._refreshed_ids.add(wid)
                    self._event_cache.pop(wid, None)
            for wid in missing:
                if wid not in states and wid not in self._pending:
                    self._known.pop(wid, None)
                    self._removed_ids.add(wid)
                    self._forgotten_ids.add(wid)
                    self._event_cache.pop(wid, None)
        # The trails held in memory take what the other processes wrote (their tails only).
        self._trails.fill(self.client, self.table, self._trails.cached_ids(moved), self._call)

    def take_refreshed(self) -> tuple[list[CMLWorkerState], set[str]]:
        """States other processes changed since the last call, and workers they forgot."""
        with self._mutation_lock:
            ids, self._refreshed_ids = self._refreshed_ids, set()
            removed, self._removed_ids = self._removed_ids, set()
            states = [self._known[w].model_copy(deep=True) for w in ids if w in self._known]
        return states, removed

    def claim_lease(self, holder: str, ttl: timedelta) -> LeaseView:
        return self._call(
            dynamodb_lease.claim,
            self.client,
            self.table,
            holder,
            self._clock(),
            ttl,
            read_only=self._read_only,
        )

    def release_lease(self, holder: str) -> None:
        if not self._read_only:
            self._call(dynamodb_lease.release, self.client, self.table, holder)

    async def poll_mark_async(self) -> PollMark | None:
        return await asyncio.to_thread(
            self._call, dynamodb_lease.read_poll_mark, self.client, self.table
        )

    async def put_poll_mark_async(self, mark: PollMark) -> None:
        """Kept until the cycle's write (``flush_async`` or a save) has stored the figures."""
        if not self._read_only:
            self._mark_pending = mark

    # ------------------------------------------------------------------ the event trail
    def events(self, worker_id: str | None = None, limit: int | None = None) -> list[CloudEvent]:
        """The trail as CloudEvents, oldest first (the last ``limit``); a network read."""
        if worker_id is None:
            items = self._call(reads.events_by_time, self.client, self.table, newest=limit)
            return reads.envelopes(items)
        cached = self._event_cache.get(worker_id)
        if cached is None:
            items = self._call(reads.worker_event_items, self.client, self.table, worker_id)
            cached = reads.envelopes(items)
            self._event_cache[worker_id] = cached
        if limit is None:
            return list(cached)
        return cached[-limit:] if limit > 0 else []

    def cached_events(self, worker_id: str, limit: int | None = None) -> list[CloudEvent] | None:
        """A worker's newest ``limit`` events from memory, never the network: None when its
        trail was not read yet (``load_trails``). Its lifecycle events are all there; only the
        newest ``TELEMETRY_KEPT`` telemetry events are."""
        return self._trails.get(worker_id, limit)

    def load_trails(self, worker_ids: Iterable[str]) -> None:
        """Read the trails of these workers into memory (network: call it in a worker thread);
        one already there is read from its newest event onwards."""
        self._trails.fill(self.client, self.table, list(worker_ids), self._call)

    def events_between(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[CloudEvent]:
        """Every worker's events with ``since <= time < until``, in time order."""
        items = self._call(reads.events_by_time, self.client, self.table, since=since, until=until)
        return reads.envelopes(items)

    # ------------------------------------------------------------------ the seed's interface
    def _known_states(self) -> list[CMLWorkerState]:
        return list(self._known.values())

    async def delete_async(self, worker_id: str, worker: CMLWorker | None = None) -> bool:
        existed = worker_id in self._known
        self._stage([worker] if worker else [], delete_id=worker_id)
        await asyncio.to_thread(self._write)
        return existed

    async def save_many_async(
        self, entities: list[CMLWorker], *, meta: Mapping[str, Any] | None = None
    ) -> int:
        """``save_many`` with the DynamoDB calls in a worker thread."""
        saved = self._stage(entities)
        if self.pending_write:
            await asyncio.to_thread(self._write)
        return saved

    async def flush_async(self) -> bool:
        self._require_writable()
        if not self.pending_write:
            return False
        await asyncio.to_thread(self._write)
        return True

    async def sync_async(self) -> None:
        await asyncio.to_thread(self.sync)

    async def claim_lease_async(self, holder: str, ttl: timedelta) -> LeaseView:
        return await asyncio.to_thread(self.claim_lease, holder, ttl)


__all__ = ["DynamoDbWorkerRepository", "StoreConflictError", "StoreError"]
