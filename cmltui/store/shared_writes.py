"""The write path shared by many processes: transactions, catching up, the policy lease.

A mixin of ``TinyDbWorkerRepository`` (kept apart so that each module has one job): every write
is one transaction under the file lock (merge what another process wrote meanwhile, write,
release); ``sync`` catches up with other processes' writes; the policy lease decides which
process runs the automatic policies (and reads CML for the others: its poll mark).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmltui.domain.clock import Clock
from cmltui.domain.lease import PollMark
from cmltui.domain.worker import CMLWorkerState
from cmltui.store import poll_mark
from cmltui.store.atomic_storage import AtomicJSONStorage
from cmltui.store.errors import StoreFolderError, StoreWriteError
from cmltui.store.lease import LEASE_KEY, LeaseView, decide, release_value
from cmltui.store.lock import DataFileLock
from cmltui.store.merge import PendingChanges, merge

log = logging.getLogger("cmltui.store.repository")


class SharedFileWrites:
    """Transactions on a data file that other cmltui processes write too."""

    if TYPE_CHECKING:  # provided by the repository
        path: Path
        _lock: DataFileLock
        _lock_wait_seconds: float
        _pending: PendingChanges
        _refreshed_ids: set[str]
        _removed_ids: set[str]
        _forgotten_ids: set[str]
        _event_ids_by_worker: dict[str, dict[int, None]]
        _mutation_lock: threading.RLock
        _storage: AtomicJSONStorage
        _states: dict[str, CMLWorkerState]
        _clock: Clock

        @property
        def read_only(self) -> bool: ...

        @property
        def pending_write(self) -> bool: ...

        def _require_writable(self) -> None: ...

        def _build_indexes(self) -> None: ...

        def reload(self) -> None: ...

        def get_meta(self, key: str, default: Any = None) -> Any: ...

        def _stage(
            self, workers: Any = (), *, deleted_worker_ids: Any = (), meta: Any = None
        ) -> int: ...

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def _locked(self, *, opening: bool = False) -> Iterator[None]:
        try:
            lock = self._lock.held_for(self._lock_wait_seconds, on_wait=self._tell_waiting)
            lock.__enter__()
        except OSError as err:
            reason = f"the lock file {self._lock.path} cannot be opened ({err.strerror or err})"
            if opening:
                raise StoreFolderError(self.path.parent, reason) from None
            raise StoreWriteError(
                f"cannot write {self.path}: {reason}; the changes are kept in memory and the "
                "next write retries them"
            ) from None
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    def _tell_waiting(self) -> None:
        log.info("waiting for another cmltui to finish writing %s", self.path)

    def _transaction(self) -> bool:
        """Lock, merge what another process wrote meanwhile, write, unlock. True when written.

        Runs in any thread; callers serialise their commits (the controller's commit lock).
        """
        self._require_writable()
        with self._locked():
            return self._write_locked()

    def _write_locked(self) -> bool:
        """The body of a transaction; the caller holds the file lock."""
        if self._storage.disk_changed():
            self._merge_disk()
        with self._mutation_lock:
            tables, generation = self._storage.snapshot()
            written_seqs = len(self._pending.event_seqs)
            snapshot_pending = self._pending
            self._pending = PendingChanges()
        try:
            payload, _ = self._storage.serialize(tables)
            written = self._storage.commit(payload, generation)
        except Exception:
            with self._mutation_lock:  # not on disk: still pending, merged on retry
                self._merge_pending_back(snapshot_pending)
            raise
        log.debug("wrote %s (%d new events)", self.path, written_seqs)
        return written

    # ------------------------------------------------------------------ the policy lease
    def claim_lease(self, holder: str, ttl: timedelta) -> LeaseView:
        """Take or renew the automatic-policy lease in one transaction (see ``lease``).

        A read-only store never takes it: it only reports who holds it.
        """
        if self.read_only:
            self.sync()
            current = decide(self.get_meta(LEASE_KEY), "", self._clock(), ttl)[1]
            return LeaseView(
                current.holder if not current.ours else None, current.expires_at, False
            )
        with self._locked():
            if self._storage.disk_changed():
                self._merge_disk()
            value, view = decide(self.get_meta(LEASE_KEY), holder, self._clock(), ttl)
            if value is not None:
                self._stage(meta={LEASE_KEY: value})
            if self.pending_write:
                self._write_locked()
            return view

    async def claim_lease_async(self, holder: str, ttl: timedelta) -> LeaseView:
        return await asyncio.to_thread(self.claim_lease, holder, ttl)

    def release_lease(self, holder: str) -> None:
        """Give the lease up at once (a clean exit), so another process need not wait."""
        if self.read_only:
            return
        with self._locked():
            if self._storage.disk_changed():
                self._merge_disk()
            value = release_value(self.get_meta(LEASE_KEY), holder)
            if value is not None:
                self._stage(meta={LEASE_KEY: value})
                self._write_locked()

    # ------------------------------------------------------------------ the CML poll mark
    def poll_mark(self) -> PollMark | None:
        """The policy runner's last CML poll mark, as of the last sync (None: none or bad)."""
        return poll_mark.decode(self.get_meta(poll_mark.POLL_MARK_KEY))

    async def poll_mark_async(self) -> PollMark | None:
        return self.poll_mark()

    async def put_poll_mark_async(self, mark: PollMark) -> None:
        """Staged: the cycle's own write (``flush_async`` or a save) puts it in the file."""
        if not self.read_only:
            self._stage(meta={poll_mark.POLL_MARK_KEY: poll_mark.encode(mark)})

    def _merge_pending_back(self, earlier: PendingChanges) -> None:
        later = self._pending
        earlier.event_seqs.extend(later.event_seqs)
        for worker_id, base in later.base_versions.items():
            earlier.base_versions.setdefault(worker_id, base)
        earlier.deleted_ids |= later.deleted_ids
        earlier.meta_keys |= later.meta_keys
        earlier.dropped_seqs |= later.dropped_seqs
        earlier.replaced_seqs |= later.replaced_seqs
        self._pending = earlier

    def _merge_disk(self) -> None:
        """Another process wrote: take its document and lay our pending changes over it."""
        disk = self._storage.read_disk()
        with self._mutation_lock:
            known = {wid: state.version for wid, state in self._states.items()}
            result = merge(disk, self._storage.read(), self._pending)
            self._storage.adopt(result.tables)
            self._pending.event_seqs.clear()  # renumbered into the merged document
            self._pending.dropped_seqs.clear()
            self._pending.replaced_seqs.clear()
            self._build_indexes()
            changed = {
                wid
                for wid in result.refreshed_ids
                if wid in self._states and known.get(wid) != self._states[wid].version
            }
            self._refreshed_ids |= changed
            self._removed_ids |= result.removed_ids
            self._forgotten_ids |= self._forgotten_among(result.removed_ids)
            # Every merged document is rewritten below: all of it counts as ours now (a
            # worker new to the disk stays new until a write has put it there).
            for wid, base in self._pending.base_versions.items():
                state = self._states.get(wid)
                if base is not None:
                    self._pending.base_versions[wid] = state.version if state else None

    def sync(self) -> None:
        """Catch up with what other processes wrote (a writer also writes what it holds)."""
        if self.read_only:
            if self._storage.disk_changed():
                known = {wid: state.version for wid, state in self._states.items()}
                self.reload()
                self._note_external(known)
            return
        if self.pending_write:
            self._transaction()
        elif self._storage.disk_changed():
            with self._locked(), self._mutation_lock:
                known = {wid: state.version for wid, state in self._states.items()}
                self._storage.adopt(self._storage.read_disk())
                self._build_indexes()
                self._storage.mark_committed()
                self._note_external(known)

    async def sync_async(self) -> None:
        await asyncio.to_thread(self.sync)

    def _note_external(self, known: dict[str, int]) -> None:
        for wid, state in self._states.items():
            if known.get(wid) != state.version:
                self._refreshed_ids.add(wid)
        gone = set(known) - set(self._states)
        self._removed_ids |= gone
        self._forgotten_ids |= self._forgotten_among(gone)

    def _forgotten_among(self, gone: set[str]) -> set[str]:
        """The workers of ``gone`` another process forgot: their events are still on disk
        (a lost file has none; what this process saves again is then the record)."""
        return {wid for wid in gone if wid in self._event_ids_by_worker}

    def take_refreshed(self) -> tuple[list[CMLWorkerState], set[str]]:
        """States another process changed since the last call, and workers it forgot."""
        with self._mutation_lock:
            ids, self._refreshed_ids = self._refreshed_ids, set()
            removed, self._removed_ids = self._removed_ids, set()
            states = [self._states[wid].model_copy() for wid in ids if wid in self._states]
        return states, removed
