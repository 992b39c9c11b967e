"""Each worker's event trail as the dashboard and the cost figures read it: from memory, the
missing ones read in a worker thread and published when they arrive.

On a shared DynamoDB table a worker's trail is a network read. Neither the UI's loop (the detail
pane asks on every cursor move) nor the engine's (a snapshot's cost figures) may wait for one:
``cached_trail`` and ``_billing_events`` answer from the store's memory
(``FleetStore.cached_events``) and, for a worker not read yet, ask ``want_trails``, which reads
it with ``load_trails`` in a worker thread and publishes the worker again (its row's figures and
the detail pane follow). The data file's trail is in memory already: it is always at hand.

A part of ``FleetController`` (see ``cmltui.services.controller``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cmltui.domain.billing import BILLING_EVENT_TYPES
from cmltui.domain.events import CloudEvent, DomainEvent, event_from_cloudevent
from cmltui.services.controller_base import ControllerBase
from cmltui.services.snapshot import SourceHealth

log = logging.getLogger("cmltui.controller")

#: After a failed read of the trails, none is asked again for this long.
TRAIL_RETRY = timedelta(seconds=30)
_SOURCE = "store trail"


class TrailsMixin(ControllerBase):
    if TYPE_CHECKING:
        _trails_wanted: set[str]
        _trail_task: asyncio.Task[None] | None
        _trail_failed_at: datetime | None

    def _init_trails(self) -> None:
        self._trails_wanted = set()
        self._trail_task = None
        self._trail_failed_at = None

    def cached_trail(self, worker_id: str, limit: int = 200) -> list[CloudEvent] | None:
        """A worker's newest events from memory (any thread): None when not read yet."""
        return self._repository.cached_events(worker_id, limit)

    def want_trails(self, worker_ids: Iterable[str]) -> None:
        """Read these workers' trails in a worker thread (engine loop; coalesced)."""
        self._trails_wanted.update(worker_ids)
        failed = self._trail_failed_at
        if failed is not None and self._clock() - failed < TRAIL_RETRY:
            return
        if self._trail_task is not None and not self._trail_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a headless snapshot): the next cycle asks again
            return
        self._trail_task = loop.create_task(self._load_wanted_trails(), name="trails")

    async def _load_wanted_trails(self) -> None:
        while self._trails_wanted and not self._stopping:
            ids = sorted(self._trails_wanted)
            self._trails_wanted.clear()
            try:
                await asyncio.to_thread(self._repository.load_trails, ids)
            except Exception as err:  # shown; asked again after TRAIL_RETRY
                log.warning("could not read the event trails: %s", err)
                self._trail_failed_at = self._clock()
                self._region_errors[_SOURCE] = SourceHealth(
                    _SOURCE, f"cannot read the event trails: {err}", self._clock()
                )
                self._publish()
                return
            self._trail_failed_at = None
            self._region_errors.pop(_SOURCE, None)
            self._pending_ids.update(i for i in ids if i in self._workers)
            self._publish()

    async def _trails_settled(self) -> None:
        """Wait for the trails being read (a headless command's figures need them)."""
        while self._trail_task is not None and not self._trail_task.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._trail_task)

    async def _stop_trails(self) -> None:
        task = self._trail_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _billing_events(self, worker_id: str) -> list[DomainEvent] | None:
        """A worker's events that bill or save (``cmltui.domain.billing``): stored, then those
        recorded here and not saved yet; None while its stored ones are being read."""
        # Only these types are validated: at 5,000 workers the whole trails (telemetry mostly)
        # took 0.7 s of the first publish (bench/startup.py).
        stored = self._repository.cached_events_of_types(worker_id, BILLING_EVENT_TYPES)
        if stored is None:
            self.want_trails([worker_id])
            return None
        events: list[DomainEvent] = []
        for envelope in stored:
            if envelope.subject != worker_id or envelope.type not in BILLING_EVENT_TYPES:
                continue
            try:
                events.append(event_from_cloudevent(envelope))
            except ValueError:  # unreadable: it bills nothing (the store has logged it)
                continue
        worker = self._workers.get(worker_id)
        if worker is not None:
            events.extend(
                e for e in worker.uncommitted_events if e.EVENT_TYPE in BILLING_EVENT_TYPES
            )
        return events
