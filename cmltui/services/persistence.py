"""The data file: one write per cycle, catching up with other cmltui processes, forgetting a record.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import (
    ControllerBase,
)
from cmltui.services.snapshot import (
    ActionResult,
    SourceHealth,
)

log = logging.getLogger("cmltui.controller")


class PersistenceMixin(ControllerBase):
    async def _commit(self) -> int:
        """One store write for every worker with new events (or a retry of a failed write).

        A failed write (disk full, folder gone) keeps everything in memory: the store holds the
        whole document and the next cycle writes it again; the error shows until then.
        """
        if self._repository.read_only:
            return 0  # a viewer: it never writes the data file
        changed = [w for w in self._workers.values() if w.uncommitted_events]
        retry_pending = self._repository.pending_write
        if not changed and not retry_pending:
            return 0
        async with self._commit_lock:
            try:
                if changed:
                    saved = await self._repository.save_many_async(changed)
                else:
                    await self._repository.flush_async()
                    saved = 0
            except Exception as err:  # StoreWriteError and friends
                previous = self._region_errors.get("store")
                self._region_errors["store"] = SourceHealth(
                    "store",
                    f"cannot save the data file: {err}",
                    previous.since if previous else self._clock(),
                )
                log.warning("store write failed: %s", err)
                return 0
            self._region_errors.pop("store", None)
            self._absorb_other_writers()
            return saved

    async def _sync_store(self) -> None:
        """Catch up with other cmltui processes writing the same data file (their actions,
        the workers they created or forgot), before this cycle reconciles."""
        async with self._commit_lock:
            try:
                await self._repository.sync_async()
            except Exception as err:  # shown like any failed write; the next cycle retries
                previous = self._region_errors.get("store")
                self._region_errors["store"] = SourceHealth(
                    "store",
                    f"cannot read the data file: {err}",
                    previous.since if previous else self._clock(),
                )
                return
        self._absorb_other_writers()

    def _absorb_other_writers(self) -> None:
        states, removed = self._repository.take_refreshed()
        for state in states:
            worker = self._workers.get(state.id)
            if worker is None:
                self._workers[state.id] = CMLWorker.from_state(state, clock=self._clock)
            else:
                worker.rebase(state)
            self._pending_ids.add(state.id)
        for worker_id in removed:
            if self._workers.pop(worker_id, None) is not None:
                self._pending_ids.discard(worker_id)
                self._removed_ids.add(worker_id)

    async def forget_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        """Remove terminated workers' records from the data file; their events, the audit
        trail, stay. A worker that is not terminated is refused (terminate it first)."""
        action = "forget"
        if self.read_only:
            return self._refuse_all(action, worker_ids, "read-only mode")
        workers, refused = self._resolve(worker_ids)
        done: list[str] = []
        failed: list[str] = []
        for worker in workers:
            if not worker.is_terminated:
                refused.append(
                    f"{worker.name}: it is {worker.state.status}, not terminated; only a "
                    "terminated worker's record can be forgotten (terminate it first)"
                )
                continue
            async with self._commit_lock:
                try:
                    await self._repository.delete_async(worker.id, worker)
                except Exception as err:  # the record stays, in memory and on disk
                    failed.append(f"{worker.name}: {err}")
                    continue
            self._workers.pop(worker.id, None)
            self._pending_ids.discard(worker.id)
            self._removed_ids.add(worker.id)
            log.info("%s forgot the record of %s (%s)", self.user, worker.name, worker.id)
            done.append(worker.name)
        self._publish()
        return ActionResult(action, tuple(done), tuple(refused), tuple(failed))

    async def _forget(self, worker: CMLWorker) -> None:
        """Drop a worker's record (its events, the last ones included, stay in the trail)."""
        self._workers.pop(worker.id, None)
        self._pending_ids.discard(worker.id)
        self._removed_ids.add(worker.id)
        try:
            await self._repository.delete_async(worker.id, worker)
        except Exception as err:  # the record stays; it shows as a failed create
            log.warning("could not drop the record of %s: %s", worker.name, err)
        self._publish()
