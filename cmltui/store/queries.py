"""The seed's repository queries, answered from a store's in-memory worker states, and what
else both stores answer the same way (add and update as saves, the replayable trail).

Both stores (the TinyDB file and the DynamoDB table) keep every known worker's state in
memory and rebuild an aggregate from it on demand; the queries are the same over that map.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Container
from datetime import datetime

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.events import CloudEvent, DomainEvent, event_from_cloudevent
from cmltui.domain.worker import CMLWorker
from cmltui.domain.worker_state import CMLWorkerState
from cmltui.store.trail import brief_error

log = logging.getLogger("cmltui.store.repository")


class StateQueries:
    """``get_*_async``, ``add_async``/``update_async`` and ``domain_events_for`` of
    ``CMLWorkerRepository``, over ``_known_states``, ``save_many_async`` and ``events``."""

    _clock: Callable[[], datetime]

    @abstractmethod
    def _known_states(self) -> list[CMLWorkerState]:
        """Every stored worker's state (a copy of the list: safe to iterate)."""

    @abstractmethod
    def _rehydrate(self, state: CMLWorkerState) -> CMLWorker: ...

    @abstractmethod
    def all_workers(self) -> list[CMLWorker]: ...

    @abstractmethod
    def get(self, worker_id: str) -> CMLWorker | None: ...

    @abstractmethod
    def events(self, worker_id: str | None = None, limit: int | None = None) -> list[CloudEvent]:
        """Stored events (one worker's, or all), oldest first."""

    @abstractmethod
    async def save_many_async(self, entities: list[CMLWorker]) -> int: ...

    @abstractmethod
    def cached_events(
        self, worker_id: str, limit: int | None = None
    ) -> list[CloudEvent] | None: ...

    def cached_events_of_types(
        self, worker_id: str, types: Container[str]
    ) -> list[CloudEvent] | None:
        """A worker's cached events of these types (None: its trail is not read yet). The data
        file's store picks them before validating any (``TrailReads``)."""
        events = self.cached_events(worker_id)
        return None if events is None else [event for event in events if event.type in types]

    async def add_async(self, entity: CMLWorker) -> CMLWorker:
        """Save a new worker with its events (an existing id is overwritten, like a save)."""
        await self.save_many_async([entity])
        return entity

    async def update_async(self, entity: CMLWorker) -> CMLWorker:
        await self.save_many_async([entity])
        return entity

    def domain_events_for(self, worker_id: str) -> list[DomainEvent]:
        """A worker's stored events as domain events, in order (for replay); one that cannot
        be read is logged and left out."""
        domain_events: list[DomainEvent] = []
        for envelope in self.events(worker_id):
            try:
                domain_events.append(event_from_cloudevent(envelope))
            except ValueError as err:  # an unknown type, a shape that does not validate
                log.warning("stored event %s cannot be replayed: %s", envelope.id, brief_error(err))
        return domain_events

    async def get_all_async(self) -> list[CMLWorker]:
        return self.all_workers()

    async def get_by_id_async(self, worker_id: str) -> CMLWorker | None:
        return self.get(worker_id)

    async def get_by_aws_instance_id_async(self, aws_instance_id: str) -> CMLWorker | None:
        for state in self._known_states():
            if state.aws_instance_id == aws_instance_id:
                return self._rehydrate(state)
        return None

    async def get_by_status_async(self, status: CMLWorkerStatus) -> list[CMLWorker]:
        return [self._rehydrate(s) for s in self._known_states() if s.status == status]

    async def get_active_workers_async(self) -> list[CMLWorker]:
        """Workers that are not terminated."""
        return [
            self._rehydrate(s)
            for s in self._known_states()
            if s.status != CMLWorkerStatus.TERMINATED
        ]

    async def get_idle_workers_async(self, idle_threshold_minutes: int) -> list[CMLWorker]:
        """Running workers idle beyond the threshold, by the aggregate's own ``is_idle``."""
        now = self._clock()
        running = await self.get_by_status_async(CMLWorkerStatus.RUNNING)
        return [w for w in running if w.is_idle(idle_threshold_minutes, now=now)]
