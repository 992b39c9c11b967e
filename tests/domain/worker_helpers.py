"""What the CMLWorker aggregate's tests share: the worker they start from and its one event."""

from __future__ import annotations

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker import CMLWorker
from tests.fixtures.workers import make_worker

S = CMLWorkerStatus


def new_worker(clock, status: CMLWorkerStatus = S.PENDING) -> CMLWorker:
    """The worker these tests start from: created in ``status``, its creation event taken."""
    return make_worker(
        clock,
        "w-1",
        name="Dev Lab Worker 1",
        created_by="user_123",
        status=status,
        observed=False,
        fresh=True,
    )


def only_event(worker: CMLWorker):
    events = worker.pull_uncommitted_events()
    assert len(events) == 1, events
    return events[0]
