"""Small builders shared by the store tests."""

from __future__ import annotations

from datetime import timedelta

from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.domain.worker import CMLWorker


def make_worker(
    clock: FrozenClock,
    worker_id: str,
    *,
    status: CMLWorkerStatus = CMLWorkerStatus.RUNNING,
    instance_id: str | None = None,
    idle_minutes: float | None = None,
    active_labs: int = 0,
) -> CMLWorker:
    """A worker in ``status``; with ``idle_minutes`` its last activity is that long ago."""
    worker = CMLWorker(
        name=f"cml-{worker_id}",
        aws_region="us-east-1",
        instance_type="c5.2xlarge",
        ami_id="ami-0123456789abcdef0",
        ami_name="CML-2.7.0-Ubuntu-22.04",
        cml_version="2.7.0",
        created_by="tester",
        worker_id=worker_id,
        status=CMLWorkerStatus.PENDING,
        clock=clock,
    )
    if instance_id:
        worker.assign_instance(instance_id, "198.51.100.7", "10.0.0.7")
    worker.update_status(status)
    if idle_minutes is not None:
        worker.update_telemetry(clock() - timedelta(minutes=idle_minutes), active_labs, 3.0, 20.0)
    if status == CMLWorkerStatus.RUNNING:
        worker.update_service_status(CMLServiceStatus.AVAILABLE, "https://198.51.100.7")
    return worker
