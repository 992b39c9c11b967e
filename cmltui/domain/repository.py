"""The seed's repository interface for CMLWorker aggregates."""

from __future__ import annotations

from abc import ABC, abstractmethod

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker import CMLWorker


class CMLWorkerRepository(ABC):
    """Where workers are kept. Implementations save a worker's uncommitted events with it."""

    # Queries
    @abstractmethod
    async def get_all_async(self) -> list[CMLWorker]: ...

    @abstractmethod
    async def get_by_id_async(self, worker_id: str) -> CMLWorker | None: ...

    @abstractmethod
    async def get_by_aws_instance_id_async(self, aws_instance_id: str) -> CMLWorker | None: ...

    @abstractmethod
    async def get_by_status_async(self, status: CMLWorkerStatus) -> list[CMLWorker]: ...

    @abstractmethod
    async def get_active_workers_async(self) -> list[CMLWorker]:
        """Workers that are not terminated."""

    @abstractmethod
    async def get_idle_workers_async(self, idle_threshold_minutes: int) -> list[CMLWorker]:
        """Running workers idle beyond the threshold, by the aggregate's own ``is_idle``."""

    # Commands
    @abstractmethod
    async def add_async(self, entity: CMLWorker) -> CMLWorker: ...

    @abstractmethod
    async def update_async(self, entity: CMLWorker) -> CMLWorker: ...

    @abstractmethod
    async def delete_async(self, worker_id: str, worker: CMLWorker | None = None) -> bool: ...

    # cmltui addition: one write for a whole refresh cycle
    @abstractmethod
    async def save_many_async(self, entities: list[CMLWorker]) -> int:
        """Save many workers and all their uncommitted events in one write; returns events saved."""
