"""The seed's repository queries, answered from a store's in-memory worker states.

Both stores (the TinyDB file and the DynamoDB table) keep every known worker's state in
memory and rebuild an aggregate from it on demand; the queries are the same over that map.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Container
from datetime import datetime

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.events import CloudEvent
from cmltui.domain.worker import CMLWorker
from cmltui.domain.worker_state import CMLWorkerState


class StateQueries:
    """``get_*_async`` of ``CMLWorkerRepository`` over ``_known_states``."""

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
