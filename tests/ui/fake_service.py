"""An in-memory ``FleetService`` for layout and snapshot tests (deterministic data, no I/O).

Behaviour tests of the bindings run against the real controller (see ``real_fleet.py``); this
double exists because snapshots need byte-identical data (moto picks random ids and IPs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.config import Config
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.events import CloudEvent
from cmltui.domain.worker_policy import PolicyChange
from cmltui.services.discovery import DiscoveredInstance
from cmltui.services.ports import ChangeSetListener
from cmltui.services.snapshot import (
    ActionResult,
    ChangeSet,
    FleetTotals,
    RefreshSummary,
    SourceHealth,
    WorkerSnapshot,
)
from cmltui.ui.app import CmlTuiApp

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def make_snapshot(index: int, **overrides: object) -> WorkerSnapshot:
    """A plausible worker; ``index`` varies the numbers so sorting has something to do."""
    running = index % 3 != 2
    base = WorkerSnapshot(
        id=f"w-{index:04d}",
        name=f"cml-worker-{index}",
        region="us-east-1" if index % 2 else "us-west-2",
        aws_instance_id=f"i-{index:017x}",
        instance_type="c5.2xlarge",
        ami_id="ami-0123456789abcdef0",
        ami_name="CML-2.9.0-Ubuntu-22.04",
        status=CMLWorkerStatus.RUNNING if running else CMLWorkerStatus.STOPPED,
        service_status=CMLServiceStatus.AVAILABLE if running else CMLServiceStatus.UNAVAILABLE,
        cml_version="2.9.0" if index % 4 else "2.10.1",
        license_status=LicenseStatus.REGISTERED if index % 5 else LicenseStatus.UNREGISTERED,
        license_token_masked="****WXYZ" if index % 5 else None,
        https_endpoint=f"https://10.0.0.{index}" if running else None,
        public_ip=f"54.0.0.{index}" if running else None,
        private_ip=f"10.0.0.{index}",
        active_labs_count=(index * 7) % 4 if running else 0,
        cpu_utilization=float((index * 37) % 100) if running else None,
        memory_utilization=float((index * 23) % 100) if running else None,
        last_activity_at=NOW - timedelta(minutes=index * 9),
        created_at=NOW - timedelta(days=3),
        created_by="alice",
        updated_at=NOW - timedelta(minutes=1),
        terminated_at=None,
        terminated_by=None,
        last_started_at=NOW - timedelta(hours=index) if running else None,
        idle_minutes=float(index * 9),
        is_idle=running and index * 9 >= 30 and (index * 7) % 4 == 0,
        auto_stop_in_minutes=None,
        auto_stop_opt_out=False,
        uptime_seconds=index * 3600.0 + 300 if running else None,
        hourly_cost_usd=0.34 if running else 0.0,
        cost_so_far_usd=round(index * 0.34, 2),
        cost_today_usd=round(0.34 * min(index, 9), 2) if running else round(0.34 * 2, 2),
        cost_week_usd=round(0.34 * (index * 3 + 8), 2),
        saved_today_usd=round(0.34 * 3, 2) if not running else 0.0,
        saved_week_usd=round(0.34 * (index % 4) * 5, 2),
        cpu_history=tuple(float((index * 11 + k * 7) % 100) for k in range(20)),
        memory_history=tuple(float((index * 5 + k * 3) % 100) for k in range(20)),
        labs_history=tuple((index + k) % 4 for k in range(20)),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def totals_of(snapshots: Sequence[WorkerSnapshot]) -> FleetTotals:
    running = [s for s in snapshots if s.status == CMLWorkerStatus.RUNNING]
    cpus = [s.cpu_utilization for s in running if s.cpu_utilization is not None]
    return FleetTotals(
        total=len(snapshots),
        running=len(running),
        stopped=sum(1 for s in snapshots if s.status == CMLWorkerStatus.STOPPED),
        idle=sum(1 for s in snapshots if s.is_idle),
        average_cpu=sum(cpus) / len(cpus) if cpus else None,
        cost_per_hour_usd=sum(s.hourly_cost_usd for s in snapshots),
        cost_so_far_usd=sum(s.cost_so_far_usd for s in snapshots),
        cost_today_usd=sum(s.cost_today_usd for s in snapshots),
        cost_week_usd=sum(s.cost_week_usd for s in snapshots),
        saved_today_usd=sum(s.saved_today_usd for s in snapshots),
        saved_week_usd=sum(s.saved_week_usd for s in snapshots),
    )


class FakeFleetService:
    """Holds snapshots; records every request; publishes change sets when told to."""

    def __init__(
        self,
        snapshots: Sequence[WorkerSnapshot] = (),
        *,
        read_only: bool = False,
        now: datetime = NOW,
        discovered: Sequence[CMLWorkerInstanceDto | DiscoveredInstance] = (),
    ) -> None:
        self.read_only = read_only
        self.workers: dict[str, WorkerSnapshot] = {s.id: s for s in snapshots}
        self.listeners: list[ChangeSetListener] = []
        self.calls: list[tuple[str, tuple]] = []
        self.now = now
        self.errors: tuple[SourceHealth, ...] = ()
        self.last_success_at: datetime | None = now - timedelta(seconds=12)
        self.from_cache = False
        self.all_regions_failing = False
        self.discovered = [
            d if isinstance(d, DiscoveredInstance) else DiscoveredInstance(d) for d in discovered
        ]
        self.discovery_failures: list[str] = []
        self.started = False
        self.loops_held = False
        self.loops_released = False
        self.stopped = False

    # -- publication --------------------------------------------------------------------------

    def subscribe(self, listener: ChangeSetListener) -> None:
        self.listeners.append(listener)

    def _change_set(
        self, changed: Sequence[WorkerSnapshot], removed: Sequence[str] = (), *, full: bool = False
    ) -> ChangeSet:
        return ChangeSet(
            changed=tuple(changed),
            removed_ids=tuple(removed),
            totals=totals_of(list(self.workers.values())),
            errors=self.errors,
            last_success_at=self.last_success_at,
            from_cache=self.from_cache,
            all_regions_failing=self.all_regions_failing,
            is_full=full,
            generated_at=self.now,
        )

    def current(self) -> ChangeSet:
        return self._change_set(list(self.workers.values()), full=True)

    def publish(self, changed: Sequence[WorkerSnapshot] = (), removed: Sequence[str] = ()) -> None:
        for snapshot in changed:
            self.workers[snapshot.id] = snapshot
        for worker_id in removed:
            self.workers.pop(worker_id, None)
        change_set = self._change_set(changed, removed)
        for listener in self.listeners:
            listener(change_set)

    # -- FleetService -------------------------------------------------------------------------

    async def start(self, *, hold_loops: bool = False) -> None:
        self.started = True
        self.loops_held = hold_loops

    def release_loops(self) -> None:
        self.loops_released = True

    async def stop(self) -> None:
        self.stopped = True

    def request_refresh(self) -> None:
        self.calls.append(("refresh", ()))

    async def refresh_once(self) -> RefreshSummary:
        return RefreshSummary(len(self.workers), 0, 0, 0, 0.0)

    def _names(self, worker_ids: Sequence[str]) -> tuple[str, ...]:
        return tuple(self.workers[w].name for w in worker_ids if w in self.workers)

    async def start_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        self.calls.append(("start", tuple(worker_ids)))
        return ActionResult("start", done=self._names(worker_ids))

    async def stop_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        self.calls.append(("stop", tuple(worker_ids)))
        return ActionResult("stop", done=self._names(worker_ids))

    async def terminate_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        self.calls.append(("terminate", tuple(worker_ids)))
        return ActionResult("terminate", done=self._names(worker_ids))

    async def create_worker(
        self, name: str, region: str, instance_type: str | None = None
    ) -> ActionResult:
        self.calls.append(("create", (name, region, instance_type)))
        return ActionResult("create", done=(name,))

    async def register_license(self, worker_id: str, token: str) -> ActionResult:
        self.calls.append(("register_license", (worker_id, token)))
        return ActionResult("register licence", done=self._names([worker_id]))

    async def deregister_license(self, worker_id: str) -> ActionResult:
        self.calls.append(("deregister_license", (worker_id,)))
        return ActionResult("deregister licence", done=self._names([worker_id]))

    async def discover(self) -> list[DiscoveredInstance]:
        self.calls.append(("discover", ()))
        return list(self.discovered)

    def discovery_errors(self) -> list[str]:
        return list(self.discovery_failures)

    def name_problem(self, name: str) -> str | None:
        return None

    async def reattach_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        self.calls.append(("reattach", tuple(worker_ids)))
        return ActionResult("re-tag", done=self._names(worker_ids))

    async def import_instances(
        self, instances: Sequence[DiscoveredInstance | CMLWorkerInstanceDto]
    ) -> ActionResult:
        ids = tuple(i.aws_instance_id for i in instances)
        self.calls.append(("import", ids))
        return ActionResult("import", done=ids)

    async def set_auto_stop_opt_out(self, worker_ids: Sequence[str], opt_out: bool) -> ActionResult:
        self.calls.append(("opt_out", (tuple(worker_ids), opt_out)))
        return ActionResult("auto-stop opt-out", done=self._names(worker_ids))

    #: The schedules ``set_policy`` accepts (the controller reads the config's).
    known_schedules: tuple[str, ...] = ("emea-class",)

    async def set_policy(self, worker_ids: Sequence[str], change: PolicyChange) -> ActionResult:
        self.calls.append(("policy", (tuple(worker_ids), change)))
        name = change.schedule
        if isinstance(name, str) and name not in self.known_schedules:
            known = ", ".join(self.known_schedules)
            reason = f"schedule {name!r} is not in the config (known: {known})"
            names = self._names(worker_ids)
            return ActionResult("policy", refused=tuple(f"{n}: {reason}" for n in names))
        return ActionResult("policy", done=self._names(worker_ids))

    def events_for(self, worker_id: str | None, limit: int = 200) -> list[CloudEvent]:
        if worker_id is None or worker_id not in self.workers:
            return []
        events = [
            CloudEvent(
                id=f"{worker_id}-{k}",
                type="cmltui.worker.status-updated.v1",
                time=self.now - timedelta(minutes=10 * (3 - k)),
                subject=worker_id,
                data={"old_status": "stopped", "new_status": "running", "changed_by": "alice"},
            )
            for k in range(3)
        ]
        return events[-limit:]


def make_app(
    service: FakeFleetService, tmp_path: Path, *, read_only: bool = False, **config: Any
) -> CmlTuiApp:
    """The dashboard on ``service`` at the frozen ``NOW``, logging under ``tmp_path``."""
    return CmlTuiApp(
        service,
        config=Config(regions=["us-east-1", "us-west-2"], **config),
        aws_profile_label="lab-admin",
        read_only=read_only,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )
