"""The fleet controller: refresh loops, reconciliation, operator actions, idle auto-stop.

It knows nothing of Textual. The UI (or the headless CLI) subscribes to change sets and calls
the action methods; everything observed goes through the aggregate's own methods, so domain
events fire exactly when something changed, and each cycle ends in one store write.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cmltui.aws.dto import WORKER_ID_TAG, CMLWorkerInstanceDto
from cmltui.aws.errors import AwsError
from cmltui.cml.errors import CmlError, CmlNotReadyError
from cmltui.cml.status_map import service_status_for
from cmltui.config import Config
from cmltui.domain.clock import Clock, utc_now
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.errors import DomainError
from cmltui.domain.events import CloudEvent
from cmltui.domain.names import name_key, name_problem, normalize_name, visible
from cmltui.domain.worker import CMLWorker, mask_secret
from cmltui.services.cost import cost_since_start, hourly_cost, uptime_seconds
from cmltui.services.discovery import DiscoveredInstance, import_problem
from cmltui.services.history import TelemetryHistory, history_capacity
from cmltui.services.idle_policy import evaluate_idle
from cmltui.services.labs import LAB_POLL_SECONDS, LabHost, LabsService
from cmltui.services.ports import (
    ChangeSetListener,
    CmlClient,
    CmlClientPool,
    FleetGateway,
    FleetStore,
)
from cmltui.services.reconciler import CopyConflict, Ec2Reconciler
from cmltui.services.snapshot import (
    ActionResult,
    ChangeSet,
    FleetTotals,
    RefreshSummary,
    SourceHealth,
    WorkerSnapshot,
)

log = logging.getLogger("cmltui.controller")

#: Telemetry history window for the sparklines.
_HISTORY_WINDOW_SECONDS = 3600.0
_IDLE_POLICY_ACTOR = "cmltui:idle-policy"
#: How long an interrupted action may take to show in EC2 before it is given up on.
_PENDING_ACTION_WAIT = timedelta(minutes=15)


def _mask_in(text: str, secret: str) -> str:
    """``text`` with every copy of ``secret`` replaced by its masked form (last 4 characters)."""
    return text.replace(secret, mask_secret(secret) or "") if secret else text


def _without_region(message: str, region: str) -> str:
    """The gateway names the region in its messages; the status line names the source already."""
    return message.removeprefix(f"{region}: ")


def current_os_user() -> str:
    """The OS user recorded as created_by / terminated_by."""
    try:
        return getpass.getuser()
    except Exception:  # getpass raises various errors when no user database entry exists
        return "unknown"


@dataclass
class _WorkerRuntime:
    """Per-worker facts the aggregate does not keep: history, errors, CloudWatch CPU."""

    history: TelemetryHistory
    cml_error: str | None = None
    cml_error_since: datetime | None = None
    cloudwatch_cpu: float | None = None
    cml_cpu_known: bool = False
    license_checked_at: datetime | None = None
    version_supported: bool = True
    #: When the last CML or CloudWatch figures were applied (None: not since start).
    telemetry_at: datetime | None = None


class FleetController:
    """Implements ``cmltui.services.ports.FleetService``."""

    def __init__(
        self,
        config: Config,
        repository: FleetStore,
        gateway: FleetGateway,
        cml_pool: CmlClientPool,
        *,
        clock: Clock = utc_now,
        user: str | None = None,
        read_only: bool = False,
    ) -> None:
        self.config = config
        self._repository = repository
        self._gateway = gateway
        self._cml_pool = cml_pool
        self._clock = clock
        self.user = user or current_os_user()
        self.read_only = read_only or config.read_only or repository.read_only
        #: This process in the policy lease: "user@host:pid".
        self.holder_id = f"{self.user}@{socket.gethostname()}:{os.getpid()}"
        #: Who runs the automatic policies, as last seen (None: nobody, or not asked yet).
        self.policy_runner: str | None = None
        self._workers: dict[str, CMLWorker] = {}
        self._runtime: dict[str, _WorkerRuntime] = {}
        self._region_errors: dict[str, SourceHealth] = {}
        self._listeners: list[ChangeSetListener] = []
        self._pending_ids: set[str] = set()
        self._removed_ids: set[str] = set()
        self._last_success_at: datetime | None = None
        self._all_regions_failing = False
        self._from_cache = True
        self._loaded = False
        self._tasks: list[asyncio.Task] = []
        self._wake: dict[str, asyncio.Event] = {}
        self._stopping = False
        self._commit_lock = asyncio.Lock()
        self._conflicts_seen: dict[tuple[str, str], datetime] = {}
        #: Intents saved before their calls (for the crash script and tests).
        self.intents_saved = 0
        #: Request tokens whose calls this process has sent and not yet had answered.
        self._in_flight: set[str] = set()
        self._reconciler = Ec2Reconciler(
            self._workers,
            clock=clock,
            managed_tag_key=config.aws.managed_tag_key,
            endpoint_for=self._endpoint_for,
            on_not_running=self._clear_cml_runtime,
        )
        self._history_capacity = history_capacity(
            _HISTORY_WINDOW_SECONDS, config.refresh.cml_seconds
        )
        self.notices: list[str] = list(repository.notices)
        self._labs: LabsService | None = None

    # ------------------------------------------------------------------ publication
    def subscribe(self, listener: ChangeSetListener) -> None:
        self._listeners.append(listener)

    def _runtime_for(self, worker_id: str) -> _WorkerRuntime:
        runtime = self._runtime.get(worker_id)
        if runtime is None:
            runtime = _WorkerRuntime(TelemetryHistory(self._history_capacity))
            self._runtime[worker_id] = runtime
        return runtime

    def snapshot(self, worker: CMLWorker, now: datetime | None = None) -> WorkerSnapshot:
        now = now or self._clock()
        state = worker.state
        runtime = self._runtime_for(worker.id)
        verdict = evaluate_idle(worker, self.config.idle, now)
        running = state.status == CMLWorkerStatus.RUNNING
        measured_at = runtime.telemetry_at or state.last_telemetry_at
        live = running and self._telemetry_is_fresh(measured_at, now)
        return WorkerSnapshot(
            id=state.id,
            name=state.name,
            region=state.aws_region,
            aws_instance_id=state.aws_instance_id,
            instance_type=state.instance_type,
            ami_id=state.ami_id,
            ami_name=state.ami_name,
            status=state.status,
            # Only a running instance can serve CML, whatever was last seen.
            service_status=state.service_status if running else CMLServiceStatus.UNAVAILABLE,
            cml_version=state.cml_version,
            license_status=state.license_status,
            license_token_masked=state.license_token,
            https_endpoint=state.https_endpoint,
            public_ip=state.public_ip,
            private_ip=state.private_ip,
            active_labs_count=state.active_labs_count if live else 0,
            cpu_utilization=state.cpu_utilization if live else None,
            memory_utilization=state.memory_utilization if live else None,
            last_activity_at=state.last_activity_at,
            created_at=state.created_at,
            created_by=state.created_by,
            updated_at=state.updated_at,
            terminated_at=state.terminated_at,
            terminated_by=state.terminated_by,
            last_started_at=state.last_started_at,
            idle_minutes=verdict.idle_minutes if state.status == CMLWorkerStatus.RUNNING else None,
            is_idle=verdict.is_idle,
            auto_stop_in_minutes=verdict.stop_in_minutes if self.config.idle.auto_stop else None,
            auto_stop_opt_out=state.auto_stop_opt_out,
            uptime_seconds=uptime_seconds(state, now),
            hourly_cost_usd=hourly_cost(state, self.config.cost),
            cost_so_far_usd=cost_since_start(state, self.config.cost, now),
            last_error=runtime.cml_error,
            last_error_since=runtime.cml_error_since,
            tls_insecure=self._cml_pool.tls_insecure,
            cml_version_supported=runtime.version_supported,
            cpu_history=tuple(runtime.history.cpu),
            memory_history=tuple(runtime.history.memory),
            labs_history=tuple(runtime.history.labs),
            telemetry_live=live,
            telemetry_at=measured_at,
            seen_cpu_utilization=state.cpu_utilization,
            seen_memory_utilization=state.memory_utilization,
            seen_active_labs_count=state.active_labs_count,
            detached=worker.id in self._reconciler.detached_ids(),
            problems=self._reconciler.problems_of(worker.id),
        )

    def _telemetry_is_fresh(self, measured_at: datetime | None, now: datetime) -> bool:
        """Figures count as live for three polling intervals of their sources."""
        if measured_at is None:
            return False
        refresh = self.config.refresh
        window = 3 * max(refresh.cml_seconds, refresh.cloudwatch_seconds)
        return (now - measured_at).total_seconds() <= window

    def totals(self, now: datetime | None = None) -> FleetTotals:
        now = now or self._clock()
        live = [w for w in self._workers.values() if not w.is_terminated]
        running = [w for w in live if w.state.status == CMLWorkerStatus.RUNNING]
        cpus = [w.state.cpu_utilization for w in running if w.state.cpu_utilization is not None]
        return FleetTotals(
            total=len(live),
            running=len(running),
            stopped=sum(1 for w in live if w.state.status == CMLWorkerStatus.STOPPED),
            idle=sum(1 for w in running if w.is_idle(self.config.idle.threshold_minutes, now=now)),
            average_cpu=(sum(cpus) / len(cpus)) if cpus else None,
            cost_per_hour_usd=sum(hourly_cost(w.state, self.config.cost) for w in live),
            cost_so_far_usd=sum(cost_since_start(w.state, self.config.cost, now) for w in live),
        )

    def _errors(self) -> tuple[SourceHealth, ...]:
        worker_errors = [
            SourceHealth(f"cml:{self._workers[wid].name}", rt.cml_error, rt.cml_error_since)
            for wid, rt in self._runtime.items()
            if rt.cml_error and rt.cml_error_since and wid in self._workers
        ]
        region_errors = sorted(self._region_errors.values(), key=lambda h: h.source)
        instance_errors = [
            SourceHealth(p.region, p.message, p.since) for p in self._reconciler.problems()
        ]
        instance_errors.extend(
            SourceHealth(c.region, c.describe(), self._conflict_since(c))
            for c in self._reconciler.conflicts()
        )
        return (
            tuple(region_errors)
            + tuple(instance_errors)
            + tuple(sorted(worker_errors, key=lambda h: h.source))
        )

    def _conflict_since(self, conflict: CopyConflict) -> datetime:
        key = (conflict.instance.aws_instance_id, conflict.worker_id)
        return self._conflicts_seen.setdefault(key, self._clock())

    def _change_set(self, worker_ids: Sequence[str], *, full: bool) -> ChangeSet:
        now = self._clock()
        return ChangeSet(
            changed=tuple(
                self.snapshot(self._workers[i], now) for i in worker_ids if i in self._workers
            ),
            removed_ids=tuple(sorted(self._removed_ids)) if not full else (),
            totals=self.totals(now),
            errors=self._errors(),
            last_success_at=self._last_success_at,
            from_cache=self._from_cache,
            all_regions_failing=self._all_regions_failing,
            is_full=full,
            generated_at=now,
            policy_runner=self.policy_runner,
            policy_runner_is_me=self.policy_runner == self.holder_id,
        )

    def current(self) -> ChangeSet:
        """Every worker, as it stands."""
        return self._change_set(list(self._workers), full=True)

    def workers(self) -> list[WorkerSnapshot]:
        return list(self.current().changed)

    def _publish(self, worker_ids: Sequence[str] | None = None) -> None:
        ids = list(self._pending_ids if worker_ids is None else worker_ids)
        change_set = self._change_set(ids, full=False)
        self._pending_ids.clear()
        self._removed_ids.clear()
        for listener in list(self._listeners):
            try:
                listener(change_set)
            except Exception:
                log.exception("change-set listener failed")

    def _touch(self, worker: CMLWorker) -> None:
        self._pending_ids.add(worker.id)

    # ------------------------------------------------------------------ lifecycle
    async def load(self) -> None:
        """Load the stored fleet (the last known state) and publish it at once."""
        if self._loaded:
            return
        for worker in await self._repository.get_all_async():
            self._workers[worker.id] = worker
        self._loaded = True
        self._from_cache = True
        self._publish(list(self._workers))

    async def start(self) -> None:
        """Load, publish, then run the three loops (each waits for its last run to finish)."""
        await self.load()
        if self._tasks:
            return
        self._stopping = False
        loops: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
            ("ec2", self.config.refresh.ec2_seconds, self.refresh_ec2),
            ("cloudwatch", self.config.refresh.cloudwatch_seconds, self.refresh_cloudwatch),
            ("cml", self.config.refresh.cml_seconds, self.refresh_cml),
        ]
        for name, interval, body in loops:
            self._wake[name] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._loop(name, interval, body), name=name))

    async def _loop(self, name: str, interval: float, body: Callable[[], Awaitable[None]]) -> None:
        wake = self._wake[name]
        if name != "ec2":
            # CloudWatch and CML need EC2's view of who runs where: give it a head start.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=0.5)
        while not self._stopping:
            wake.clear()
            try:
                await body()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                # Shown on screen, not only logged: the loop goes on at its next interval.
                log.exception("%s refresh failed unexpectedly", name)
                key = f"loop:{name}"
                previous = self._region_errors.get(key)
                self._region_errors[key] = SourceHealth(
                    f"{name} refresh",
                    f"unexpected error: {type(err).__name__}: {err}",
                    previous.since if previous else self._clock(),
                    retry_in_seconds=interval,
                )
                with contextlib.suppress(Exception):
                    self._publish()
            else:
                if self._region_errors.pop(f"loop:{name}", None) is not None:
                    self._publish()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval)

    def request_refresh(self) -> None:
        """Wake every loop now; each runs once more without overlapping itself."""
        for event in self._wake.values():
            event.set()

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._labs is not None:
            with contextlib.suppress(Exception):
                await self._labs.aclose()
        with contextlib.suppress(Exception):
            await self._commit()
        if self.policy_runner == self.holder_id and not self.read_only:
            with contextlib.suppress(Exception):  # another process may take over at once
                await asyncio.to_thread(self._repository.release_lease, self.holder_id)
        with contextlib.suppress(Exception):
            await self._cml_pool.aclose()
        with contextlib.suppress(Exception):
            await self._gateway.close()

    # ------------------------------------------------------------------ persistence
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

    # ------------------------------------------------------------------ EC2
    def _endpoint_for(self, dto: CMLWorkerInstanceDto) -> str | None:
        if dto.state != CMLWorkerStatus.RUNNING:
            return None
        fields = {
            "public_ip": dto.public_ip,
            "private_ip": dto.private_ip,
            "public_dns": dto.public_dns,
            "instance_id": dto.aws_instance_id,
        }
        template = self.config.cml.endpoint_template
        needed = [name for name in fields if "{" + name + "}" in template]
        if any(not fields[name] for name in needed):
            return None
        return template.format(**{k: v or "" for k, v in fields.items()}).rstrip("/")

    def reconcile_instance(
        self, dto: CMLWorkerInstanceDto, *, imported_by: str = "ec2-sync"
    ) -> CMLWorker:
        """Apply one observation of an instance: its bound worker, else a new worker for it."""
        for worker in self._workers.values():
            if worker.state.aws_instance_id == dto.aws_instance_id:
                self._reconciler.observe(worker, dto)
                break
        else:
            worker = self._reconciler.import_instance(dto, imported_by)
        if worker.uncommitted_events:
            self._touch(worker)
        return worker

    def _clear_cml_runtime(self, worker: CMLWorker) -> None:
        """A worker that is not running has no CML error and no live figures."""
        runtime = self._runtime_for(worker.id)
        runtime.cml_error = runtime.cml_error_since = None
        runtime.cml_cpu_known = False

    async def _refresh_region(self, region: str) -> bool:
        """One managed describe, plus one by-id lookup when bound instances are missing."""
        try:
            description = await self._gateway.describe_managed(region)
            missing = self._reconciler.missing_instances(region, description.instances)
            looked_up, lookup_error = None, None
            if missing:
                try:
                    looked_up = await self._gateway.lookup_instances(region, missing)
                except AwsError as err:
                    lookup_error = _without_region(str(err), region)
        except Exception as err:  # AwsError, and anything a library raises unexpectedly
            if not isinstance(err, AwsError):
                log.exception("EC2 describe in %s failed unexpectedly", region)
            message = (
                _without_region(str(err), region)
                if isinstance(err, AwsError)
                else (f"unexpected error: {type(err).__name__}: {err}")
            )
            self._region_errors[region] = SourceHealth(
                region,
                message,
                self._region_errors[region].since
                if region in self._region_errors
                else self._clock(),
                retry_in_seconds=self.config.refresh.ec2_seconds,
            )
            self._publish()
            return False
        self._region_errors.pop(region, None)
        self._from_cache = False  # live data from here on, even before the other regions answer
        marked_before = self._reconciler.marked_worker_ids(region)
        changed = self._reconciler.apply(description, looked_up, lookup_error)
        # Rows whose detached mark or problems appeared or cleared are republished too.
        self._pending_ids.update(
            changed | marked_before | self._reconciler.marked_worker_ids(region)
        )
        self._publish()
        return True

    async def refresh_ec2(self) -> None:
        """One describe per region, all regions at once; each publishes as soon as it answers."""
        await self.load()
        await self._sync_store()
        results = await asyncio.gather(
            *(self._refresh_region(region) for region in self.config.regions)
        )
        self._all_regions_failing = not any(results)
        if all(results):
            self._last_success_at = self._clock()
        if any(results):
            self._from_cache = False
        answered = {r for r, ok in zip(self.config.regions, results, strict=True) if ok}
        await self._expire_pending_actions(answered)
        await self._apply_idle_policy()
        await self._commit()
        self._publish()

    async def _expire_pending_actions(self, regions: set[str]) -> None:
        """Intents whose caller died and that EC2 never showed: recorded as not observed.

        Only in regions that answered this cycle (an intent is not given up on while its region
        cannot be seen); a create that never got an instance loses its record (not its events).
        """
        for worker in list(self._workers.values()):
            if worker.state.aws_region not in regions or worker.state.pending_action is None:
                continue
            if worker.state.pending_action.request_token in self._in_flight:
                continue  # this process is still waiting for the answer
            pending = worker.expire_pending_action(_PENDING_ACTION_WAIT)
            if pending is None:
                continue
            self._touch(worker)
            if pending.action == "create" and not worker.state.aws_instance_id:
                await self._forget(worker)

    # ------------------------------------------------------------------ CloudWatch
    async def _refresh_region_cpu(self, region: str) -> None:
        running = {
            w.state.aws_instance_id: w
            for w in self._workers.values()
            if w.state.aws_region == region
            and w.state.status == CMLWorkerStatus.RUNNING
            and w.state.aws_instance_id
        }
        if not running:
            return
        try:
            cpu_by_instance = await self._gateway.cpu_utilization(region, list(running))
        except Exception as err:  # AwsError, or anything a library raises: this region only
            if not isinstance(err, AwsError):
                log.exception("CloudWatch in %s failed unexpectedly", region)
            key = f"{region}/cloudwatch"
            previous = self._region_errors.get(key)
            self._region_errors[key] = SourceHealth(
                f"{region} CloudWatch",
                _without_region(str(err), region)
                if isinstance(err, AwsError)
                else f"unexpected error: {type(err).__name__}: {err}",
                previous.since if previous else self._clock(),
                retry_in_seconds=self.config.refresh.cloudwatch_seconds,
            )
            return
        self._region_errors.pop(f"{region}/cloudwatch", None)
        now = self._clock()
        for instance_id, worker in running.items():
            cpu = cpu_by_instance.get(instance_id)
            runtime = self._runtime_for(worker.id)
            runtime.cloudwatch_cpu = cpu
            if cpu is not None:
                runtime.telemetry_at = now
            if cpu is None or runtime.cml_cpu_known:
                continue  # CML's own figures win when it has them
            cpu = round(min(max(cpu, 0.0), 100.0), 1)
            last_activity = worker.state.last_activity_at or worker.state.last_started_at or now
            if cpu >= self.config.idle.cpu_activity_threshold_percent:
                last_activity = now
            worker.update_telemetry(
                last_activity, worker.state.active_labs_count, cpu, worker.state.memory_utilization
            )
            if worker.uncommitted_events:
                self._touch(worker)

    async def refresh_cloudwatch(self) -> None:
        await self.load()
        await asyncio.gather(*(self._refresh_region_cpu(r) for r in self.config.regions))
        await self._commit()
        self._publish()

    # ------------------------------------------------------------------ CML
    def _cml_targets(self) -> list[CMLWorker]:
        return [
            w
            for w in self._workers.values()
            if w.state.status == CMLWorkerStatus.RUNNING and w.state.https_endpoint
        ]

    def _set_cml_error(self, worker: CMLWorker, message: str | None) -> None:
        runtime = self._runtime_for(worker.id)
        if message is None:
            if runtime.cml_error is not None:
                self._touch(worker)
            runtime.cml_error = runtime.cml_error_since = None
            return
        if runtime.cml_error is None:
            runtime.cml_error_since = self._clock()
        if runtime.cml_error != message:
            self._touch(worker)
        runtime.cml_error = message

    def _running_minutes(self, worker: CMLWorker) -> float | None:
        """Minutes since the worker last started (None: unknown, e.g. imported running)."""
        started = worker.state.last_started_at or worker.state.created_at
        if started is None:
            return None
        return (self._clock() - started).total_seconds() / 60.0

    def _client(self, worker: CMLWorker) -> CmlClient:
        return self._cml_pool.client_for(worker.id, worker.state.https_endpoint or "")

    async def _poll_worker_cml(self, worker: CMLWorker) -> None:
        client = self._client(worker)
        endpoint = worker.state.https_endpoint
        runtime = self._runtime_for(worker.id)
        try:
            info = await client.system_information()
        except CmlError as err:
            runtime.cml_cpu_known = False
            booting = isinstance(err, CmlNotReadyError)
            running_for = self._running_minutes(worker)
            if (
                booting
                and running_for is not None
                and (running_for > self.config.cml.boot_grace_minutes)
            ):
                # Past the boot grace a refused connection is a fault, not a slow boot.
                worker.update_service_status(CMLServiceStatus.ERROR, endpoint)
                self._set_cml_error(
                    worker, f"unreachable {running_for:.0f} min after start: {err.reason}"
                )
                return
            worker.update_service_status(service_status_for(err), endpoint)
            # A controller that is still booting is a state (STARTING), not an error.
            self._set_cml_error(worker, None if booting else err.reason)
            return
        service = service_status_for(info)
        runtime.version_supported = info.version_supported
        worker.update_service_status(service, endpoint, cml_version=info.version)
        if service != CMLServiceStatus.AVAILABLE:
            self._set_cml_error(worker, None)
            runtime.cml_cpu_known = False
            return
        now = self._clock()
        license_due = (
            runtime.license_checked_at is None
            or (now - runtime.license_checked_at).total_seconds()
            >= self.config.refresh.cml_license_seconds
        )
        # Activity first: its lab events tell the client which labs need reading again.
        activity: object
        try:
            activity = await client.new_activity_events()
        except CmlError as err:
            activity = err
        calls = [client.system_stats(), client.labs()]
        if license_due:
            calls.append(client.licensing())
        results = [*await asyncio.gather(*calls, return_exceptions=True), activity]
        stats, labs = results[0], results[1]
        errors = [r for r in results if isinstance(r, BaseException)]
        unexpected = [r for r in errors if not isinstance(r, CmlError)]
        if unexpected:
            log.error("unexpected CML client error: %r", unexpected[0])
        licensing = results[2] if license_due else None
        if licensing is not None and not isinstance(licensing, BaseException):
            runtime.license_checked_at = now
            worker.update_license(licensing.license_status)
        self._apply_cml_telemetry(worker, stats, labs, activity, now)
        first_error = next((e for e in errors if isinstance(e, CmlError)), None)
        if (
            first_error is not None
            and isinstance(first_error, CmlError)
            and first_error.status_code == 401
        ):
            worker.update_service_status(CMLServiceStatus.ERROR, endpoint)
        self._set_cml_error(worker, first_error.reason if first_error else None)

    def _apply_cml_telemetry(self, worker: CMLWorker, stats, labs, activity, now: datetime) -> None:
        runtime = self._runtime_for(worker.id)
        state = worker.state
        cpu = memory = None
        if not isinstance(stats, BaseException):
            cpu = stats.cpu_percent
            memory = stats.memory_percent
            runtime.telemetry_at = now
        runtime.cml_cpu_known = cpu is not None
        if cpu is None:
            cpu = runtime.cloudwatch_cpu
        cpu = None if cpu is None else round(min(max(cpu, 0.0), 100.0), 1)
        memory = None if memory is None else round(min(max(memory, 0.0), 100.0), 1)
        active_labs = state.active_labs_count
        if not isinstance(labs, BaseException):
            active_labs = sum(1 for lab in labs if lab.is_active)
        # Activity: a running lab, a user event, or CPU above the threshold. Before any is
        # seen, the last start is the baseline, so idleness counts from the start.
        last_activity = state.last_activity_at or state.last_started_at or now
        if not isinstance(activity, BaseException) and activity:
            newest = max(event.timestamp for event in activity)
            last_activity = max(last_activity, newest)
        if active_labs > 0 or (
            cpu is not None and cpu >= self.config.idle.cpu_activity_threshold_percent
        ):
            last_activity = now
        last_activity = min(last_activity, now)
        try:
            worker.update_telemetry(last_activity, active_labs, cpu, memory)
        except DomainError as err:
            self._set_cml_error(worker, f"telemetry refused: {err}")
        runtime.history.add(cpu, memory, active_labs)
        self._touch(worker)  # the history moved even when the aggregate did not

    async def refresh_cml(self) -> None:
        """Poll every running worker's CML concurrently (the pool bounds the concurrency)."""
        await self.load()
        targets = self._cml_targets()
        # Clients of workers that stopped or vanished are closed.
        target_ids = {w.id for w in targets}
        for worker_id in [wid for wid in self._runtime if wid not in target_ids]:
            runtime = self._runtime[worker_id]
            runtime.cml_cpu_known = False
            with contextlib.suppress(Exception):
                await self._cml_pool.forget(worker_id)
        await asyncio.gather(*(self._poll_worker_safely(w) for w in targets))
        await self._apply_idle_policy()
        await self._commit()
        self._publish()

    async def _poll_worker_safely(self, worker: CMLWorker) -> None:
        try:
            await self._poll_worker_cml(worker)
        except Exception as err:  # never let one worker stop the others
            log.exception("CML poll of %s failed", worker.name)
            self._set_cml_error(worker, f"unexpected error: {type(err).__name__}")
        if worker.uncommitted_events:
            self._touch(worker)

    # ------------------------------------------------------------------ idle policy
    async def _holds_policy_lease(self) -> bool:
        """Only one cmltui process on a data file applies automatic actions."""
        ttl = timedelta(seconds=max(60.0, 3 * self.config.refresh.ec2_seconds))
        try:
            lease = await self._repository.claim_lease_async(self.holder_id, ttl)
        except Exception as err:  # cannot tell who runs them: take no automatic action
            log.warning("policy lease unavailable: %s", err)
            return False
        self.policy_runner = lease.holder
        return lease.ours

    async def _apply_idle_policy(self) -> None:
        if self.read_only or not self.config.idle.auto_stop:
            return
        if not await self._holds_policy_lease():
            return
        now = self._clock()
        by_region: dict[str, list[tuple[CMLWorker, float, str]]] = {}
        for worker in self._workers.values():
            verdict = evaluate_idle(worker, self.config.idle, now)
            if verdict.should_stop_now and worker.state.aws_instance_id:
                by_region.setdefault(worker.state.aws_region, []).append(
                    (worker, verdict.idle_minutes or 0.0, verdict.reason)
                )
        workers = [w for entries in by_region.values() for w, _, _ in entries]
        tokens = await self._record_intents("auto-stop", workers, _IDLE_POLICY_ACTOR)
        if tokens is None:
            return  # the data file cannot be written: no automatic stop without its record
        try:
            for region, entries in by_region.items():
                await self._send_auto_stop(region, entries, tokens, now)
        finally:
            self._in_flight.difference_update(tokens.values())

    async def _send_auto_stop(
        self,
        region: str,
        entries: list[tuple[CMLWorker, float, str]],
        tokens: dict[str, str],
        now: datetime,
    ) -> None:
        instance_ids = [w.state.aws_instance_id or "" for w, _, _ in entries]
        key = f"{region}/auto-stop"
        try:
            await self._gateway.stop_instances(region, instance_ids)
        except AwsError as err:
            log.warning("auto-stop in %s failed: %s", region, err)
            previous = self._region_errors.get(key)
            self._region_errors[key] = SourceHealth(
                f"{region} auto-stop",
                _without_region(str(err), region),
                previous.since if previous else now,
            )
            for worker, _, _ in entries:
                worker.complete_action(tokens[worker.id], "failed", str(err))
                self._touch(worker)
            return
        self._region_errors.pop(key, None)
        for worker, idle_minutes, reason in entries:
            worker.record_auto_stop(f"auto-stop: {reason}", idle_minutes)
            worker.complete_action(tokens[worker.id], "accepted")
            self._touch(worker)

    # ------------------------------------------------------------------ refresh now
    async def refresh_once(self) -> RefreshSummary:
        """One full cycle: EC2 first (it says who runs where), then CloudWatch and CML together."""
        aws_before = self._gateway.request_count
        cml_before = self._cml_pool.request_count
        logins_before = self._cml_pool.login_count
        started = time.perf_counter()
        await self.refresh_ec2()
        await asyncio.gather(self.refresh_cloudwatch(), self.refresh_cml())
        return RefreshSummary(
            workers_seen=len(self._workers),
            aws_requests=self._gateway.request_count - aws_before,
            cml_requests=self._cml_pool.request_count - cml_before,
            cml_logins=self._cml_pool.login_count - logins_before,
            seconds=time.perf_counter() - started,
            errors=tuple(f"{h.source}: {h.error}" for h in self._errors()),
        )

    # ------------------------------------------------------------------ actions
    def _resolve(self, worker_ids: Sequence[str]) -> tuple[list[CMLWorker], list[str]]:
        found, missing = [], []
        for worker_id in worker_ids:
            worker = self._workers.get(worker_id)
            if worker is None:
                missing.append(f"{worker_id}: no such worker")
            else:
                found.append(worker)
        return found, missing

    def _refuse_all(self, action: str, worker_ids: Sequence[str], reason: str) -> ActionResult:
        names = [self._workers[i].name if i in self._workers else i for i in worker_ids]
        return ActionResult(action, refused=tuple(f"{n}: {reason}" for n in names) or (reason,))

    async def _lifecycle_action(
        self,
        action: str,
        worker_ids: Sequence[str],
        check: Callable[[CMLWorker], None],
        call: Callable[[str, list[str]], Awaitable[None]],
        mark: Callable[[CMLWorker], object],
    ) -> ActionResult:
        if self.read_only:
            return self._refuse_all(action, worker_ids, "read-only mode")
        workers, refused = self._resolve(worker_ids)
        allowed: dict[str, list[CMLWorker]] = {}
        for worker in workers:
            try:
                check(worker)
            except DomainError as err:
                refused.append(str(err))
                continue
            if not worker.state.aws_instance_id:
                refused.append(f"{worker.name}: no EC2 instance yet")
                continue
            allowed.setdefault(worker.state.aws_region, []).append(worker)
        done: list[str] = []
        failed: list[str] = []
        tokens = await self._record_intents(action, [w for ws in allowed.values() for w in ws])
        if tokens is None:
            return ActionResult(action, (), tuple(refused), tuple(self._intent_unsaved(allowed)))
        try:
            for region, region_workers in allowed.items():
                await self._send_lifecycle(region, region_workers, call, mark, tokens, done, failed)
        finally:
            self._in_flight.difference_update(tokens.values())
        await self._commit()
        self._publish()
        return ActionResult(action, tuple(done), tuple(refused), tuple(failed))

    async def _send_lifecycle(
        self,
        region: str,
        region_workers: list[CMLWorker],
        call: Callable[[str, list[str]], Awaitable[None]],
        mark: Callable[[CMLWorker], object],
        tokens: dict[str, str],
        done: list[str],
        failed: list[str],
    ) -> None:
        """One AWS call for a region's share of an action, then each worker's outcome."""
        instance_ids = [w.state.aws_instance_id or "" for w in region_workers]
        try:
            await call(region, instance_ids)
        except AwsError as err:
            for worker in region_workers:
                worker.complete_action(tokens[worker.id], "failed", str(err))
                self._touch(worker)
            failed.extend(f"{visible(w.name)}: {err}" for w in region_workers)
            return
        for worker in region_workers:
            mark(worker)
            worker.complete_action(tokens[worker.id], "accepted")
            self._touch(worker)
            done.append(worker.name)

    async def _record_intents(
        self,
        action: str,
        workers: Sequence[CMLWorker],
        actor: str | None = None,
        *,
        target: str | None = None,
    ) -> dict[str, str] | None:
        """Record and save each worker's intent before any call goes out (intent first).

        Returns worker id -> request token, or None when the intents could not be saved: then
        no call may go out, since an interrupted call would leave no trace of who asked.
        """
        tokens: dict[str, str] = {}
        for worker in workers:
            token = uuid.uuid4().hex
            worker.request_action(action, actor or self.user, token, target=target)
            tokens[worker.id] = token
            self._in_flight.add(token)
            self._touch(worker)
        if not workers:
            return tokens
        await self._commit()
        if "store" in self._region_errors:
            for worker in workers:
                worker.complete_action(tokens[worker.id], "failed", "the intent was not saved")
            self._in_flight.difference_update(tokens.values())
            return None
        self.intents_saved += len(workers)
        return tokens

    def _intent_unsaved(self, allowed: dict[str, list[CMLWorker]]) -> list[str]:
        error = self._region_errors.get("store")
        reason = error.error if error else "the data file could not be written"
        return [
            f"{visible(w.name)}: not sent, {reason}"
            for workers in allowed.values()
            for w in workers
        ]

    async def start_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self._lifecycle_action(
            "start",
            worker_ids,
            lambda w: w.check_can_start(),
            self._gateway.start_instances,
            lambda w: w.mark_starting(self.user),
        )

    async def stop_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        return await self._lifecycle_action(
            "stop",
            worker_ids,
            lambda w: w.check_can_stop(),
            self._gateway.stop_instances,
            lambda w: w.mark_stopping(self.user),
        )

    async def terminate_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        if self.read_only:
            return self._refuse_all("terminate", worker_ids, "read-only mode")
        # A worker whose instance never came to be is simply marked terminated.
        orphans = [
            self._workers[i]
            for i in worker_ids
            if i in self._workers
            and not self._workers[i].state.aws_instance_id
            and not self._workers[i].is_terminated
        ]
        for worker in orphans:
            worker.terminate(self.user)
            self._touch(worker)
        rest = [i for i in worker_ids if i not in {w.id for w in orphans}]
        result = await self._lifecycle_action(
            "terminate",
            rest,
            lambda w: w.check_can_terminate(),
            self._gateway.terminate_instances,
            lambda w: w.mark_shutting_down(self.user),
        )
        for worker in orphans:
            await self._cml_pool.forget(worker.id)
        return ActionResult(
            "terminate", tuple(w.name for w in orphans) + result.done, result.refused, result.failed
        )

    async def create_worker(
        self, name: str, region: str, instance_type: str | None = None
    ) -> ActionResult:
        if self.read_only:
            return ActionResult("create", refused=(f"{name}: read-only mode",))
        name = normalize_name(name)
        problem = self.name_problem(name)
        if problem is not None:
            return ActionResult("create", refused=(f"{visible(name) or '(blank)'}: {problem}",))
        if region not in self.config.regions:
            return ActionResult("create", refused=(f"{name}: region {region} is not configured",))
        worker_id = str(uuid.uuid4())
        instance_type = instance_type or self.config.cml_worker_instance_type
        try:
            ami_id, ami_name = await self._gateway.resolve_image(region)
        except AwsError as err:
            return ActionResult("create", failed=(f"{name}: {err}",))
        worker = CMLWorker(
            name=name,
            aws_region=region,
            instance_type=instance_type,
            ami_id=ami_id,
            ami_name=ami_name,
            created_by=self.user,
            status=CMLWorkerStatus.PENDING,
            worker_id=worker_id,
            clock=self._clock,
        )
        self._workers[worker.id] = worker
        # Intent first: the worker and who asked for it are saved before RunInstances, whose
        # ClientToken is this token, so an interrupted create is found and attributed later.
        token = f"cmltui-{worker_id}"[:64]
        worker.request_action("create", self.user, token)
        self._touch(worker)
        await self._commit()
        if "store" in self._region_errors:
            del self._workers[worker.id]
            self._pending_ids.discard(worker.id)
            reason = self._region_errors["store"].error
            return ActionResult("create", failed=(f"{name}: not sent, {reason}",))
        self.intents_saved += 1
        self._in_flight.add(token)
        try:
            dto = await self._gateway.create_instance(
                region, worker_id, name, instance_type, image=(ami_id, ami_name)
            )
        except AwsError as err:
            self._in_flight.discard(token)
            worker.complete_action(token, "failed", str(err))
            await self._forget(worker)
            return ActionResult("create", failed=(f"{name}: {err}",))
        self._in_flight.discard(token)
        worker.complete_action(token, "accepted")
        worker.assign_instance(dto.aws_instance_id, dto.public_ip, dto.private_ip)
        self._touch(worker)
        await self._commit()
        self._publish()
        return ActionResult("create", done=(name,))

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

    def name_problem(self, name: str) -> str | None:
        """Why ``name`` cannot name a new worker (unsafe characters, a live worker's name)."""
        name = normalize_name(name)
        problem = name_problem(name)
        if problem is None and name_key(name) in self._live_name_keys():
            problem = "a live worker already has this name"
        return problem

    async def register_license(self, worker_id: str, token: str) -> ActionResult:
        if self.read_only:
            return self._refuse_all("register licence", [worker_id], "read-only mode")
        worker = self._workers.get(worker_id)
        if worker is None:
            return ActionResult("register licence", refused=(f"{worker_id}: no such worker",))
        token = token.strip()
        if not token:
            return ActionResult("register licence", refused=(f"{worker.name}: empty token",))
        try:
            worker.check_can_manage_license()
        except DomainError as err:
            return ActionResult("register licence", refused=(str(err),))
        client = self._client(worker)
        intents = await self._record_intents("register-licence", [worker])
        if intents is None:
            return ActionResult(
                "register licence", failed=tuple(self._intent_unsaved({"": [worker]}))
            )
        request = intents[worker.id]
        try:
            result = await client.register_license(token)
        except CmlError as err:
            reason = _mask_in(err.reason, token)
            worker.complete_action(request, "failed", reason)
            await self._settle(worker, request)
            return ActionResult("register licence", failed=(f"{worker.name}: {reason}",))
        if result.outcome == "registered":
            worker.update_license(LicenseStatus.REGISTERED, token)
        elif result.licensing is not None:
            worker.update_license(result.licensing.license_status, token)
        outcome = "accepted" if result.outcome == "registered" else "failed"
        worker.complete_action(request, outcome, _mask_in(result.reason or result.outcome, token))
        self._in_flight.discard(request)
        self._touch(worker)
        await self._commit()
        self._publish()
        if result.outcome == "registered":
            return ActionResult("register licence", done=(worker.name,))
        # CML echoes the token in its failure reason: show only its last characters.
        reason = _mask_in(result.reason or result.outcome, token)
        return ActionResult("register licence", failed=(f"{worker.name}: {reason}",))

    async def deregister_license(self, worker_id: str) -> ActionResult:
        if self.read_only:
            return self._refuse_all("deregister licence", [worker_id], "read-only mode")
        worker = self._workers.get(worker_id)
        if worker is None:
            return ActionResult("deregister licence", refused=(f"{worker_id}: no such worker",))
        try:
            worker.check_can_manage_license()
        except DomainError as err:
            return ActionResult("deregister licence", refused=(str(err),))
        intents = await self._record_intents("deregister-licence", [worker])
        if intents is None:
            failed = tuple(self._intent_unsaved({"": [worker]}))
            return ActionResult("deregister licence", failed=failed)
        request = intents[worker.id]
        try:
            result = await self._client(worker).deregister_license()
        except CmlError as err:
            worker.complete_action(request, "failed", err.reason)
            await self._settle(worker, request)
            return ActionResult("deregister licence", failed=(f"{worker.name}: {err.reason}",))
        if result.outcome in ("deregistered", "local-only", "not-registered"):
            worker.update_license(LicenseStatus.UNREGISTERED)
            worker.complete_action(request, "accepted", result.outcome)
            self._in_flight.discard(request)
            self._touch(worker)
            await self._commit()
            self._publish()
            note = {
                "local-only": " (locally only: Cisco's licensing server was not told)",
                "not-registered": " (it was not registered)",
            }.get(result.outcome, "")
            return ActionResult("deregister licence", done=(worker.name + note,))
        worker.complete_action(request, "failed", result.reason or result.outcome)
        await self._settle(worker, request)
        return ActionResult(
            "deregister licence", failed=(f"{worker.name}: {result.reason or result.outcome}",)
        )

    async def _settle(self, worker: CMLWorker, request_token: str) -> None:
        """Save a worker's outcome once its call has answered."""
        self._in_flight.discard(request_token)
        self._touch(worker)
        await self._commit()
        self._publish()

    async def discover(self) -> list[DiscoveredInstance]:
        """Unmanaged CML-looking instances, and copies of managed ones (same worker id tag).

        Each says whether it can be imported as it stands; a region that fails is shown on the
        status line and in the result's absence, never as "nothing to import".
        """
        found: list[DiscoveredInstance] = []
        results = await asyncio.gather(
            *(self._gateway.discover(r) for r in self.config.regions), return_exceptions=True
        )
        live_keys = self._live_name_keys()
        for region, result in zip(self.config.regions, results, strict=True):
            key = f"{region}/discover"
            if isinstance(result, BaseException):
                if not isinstance(result, AwsError):
                    log.error("discovery in %s failed: %r", region, result)
                self._region_errors[key] = SourceHealth(
                    f"{region} discovery",
                    _without_region(str(result), region)
                    if isinstance(result, AwsError)
                    else f"unexpected error: {type(result).__name__}",
                    self._clock(),
                )
                continue
            self._region_errors.pop(key, None)
            found.extend(
                DiscoveredInstance(dto, problem=import_problem(dto, live_keys, set()))
                for dto in result
            )
        for conflict in self._reconciler.conflicts():
            dto = conflict.instance
            if dto.state == CMLWorkerStatus.TERMINATED:
                continue
            found.append(
                DiscoveredInstance(
                    dto,
                    copy_of=conflict.worker_name,
                    problem=import_problem(dto, live_keys, set()),
                )
            )
        return found

    def discovery_errors(self) -> list[str]:
        """The regions whose last discovery failed, as status-line lines."""
        return [
            f"{h.source}: {h.error}"
            for k, h in sorted(self._region_errors.items())
            if k.endswith("/discover")
        ]

    def _live_name_keys(self) -> set[str]:
        return {name_key(w.name) for w in self._workers.values() if not w.is_terminated}

    async def import_instances(
        self, instances: Sequence[DiscoveredInstance | CMLWorkerInstanceDto]
    ) -> ActionResult:
        """Manage these instances as new workers. Everything is checked before anything is
        tagged: an instance that cannot be imported is refused and left untouched."""
        if self.read_only:
            return ActionResult("import", refused=("read-only mode",))
        done: list[str] = []
        refused: list[str] = []
        failed: list[str] = []
        bound = {w.state.aws_instance_id for w in self._workers.values()}
        live_keys = self._live_name_keys()
        batch_keys: set[str] = set()
        by_region: dict[str, list[CMLWorkerInstanceDto]] = {}
        for entry in instances:
            dto = entry.instance if isinstance(entry, DiscoveredInstance) else entry
            shown = visible(dto.name)
            if dto.aws_instance_id in bound:
                refused.append(f"{shown}: {dto.aws_instance_id} is already managed")
                continue
            problem = import_problem(dto, live_keys, batch_keys)
            if problem is not None:
                refused.append(f"{shown} ({dto.aws_instance_id}): {problem}")
                continue
            batch_keys.add(name_key(dto.name))
            by_region.setdefault(dto.region, []).append(dto)
        for region, dtos in by_region.items():
            # Always a new worker id: a copy's tag names another worker.
            new_ids = {d.aws_instance_id: str(uuid.uuid4()) for d in dtos}
            try:
                worker_id_by_instance = await self._gateway.adopt_instances(
                    region, list(new_ids), new_ids
                )
            except AwsError as err:
                failed.extend(f"{visible(d.name)}: {err}" for d in dtos)
                continue
            for dto in dtos:
                worker_id = (worker_id_by_instance or {}).get(dto.aws_instance_id)
                tags = {**dto.tags, WORKER_ID_TAG: worker_id or new_ids[dto.aws_instance_id]}
                adopted = dto.model_copy(update={"tags": tags})
                worker = self._reconciler.import_instance(adopted, self.user)
                self._reconciler.resolved(dto.aws_instance_id)
                self._touch(worker)
                done.append(worker.name)
        await self._commit()
        self._publish()
        return ActionResult("import", tuple(done), tuple(refused), tuple(failed))

    async def reattach_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        """Put the managed tag and the worker id back on detached workers' own instances."""
        if self.read_only:
            return self._refuse_all("re-tag", worker_ids, "read-only mode")
        workers, refused = self._resolve(worker_ids)
        detached = self._reconciler.detached_ids()
        by_region: dict[str, list[CMLWorker]] = {}
        for worker in workers:
            if worker.id not in detached or not worker.state.aws_instance_id:
                refused.append(f"{visible(worker.name)}: it is not detached")
                continue
            by_region.setdefault(worker.state.aws_region, []).append(worker)
        done: list[str] = []
        failed: list[str] = []
        for region, region_workers in by_region.items():
            ids = {w.state.aws_instance_id or "": w.id for w in region_workers}
            try:
                await self._gateway.adopt_instances(region, list(ids), ids)
            except AwsError as err:
                failed.extend(f"{visible(w.name)}: {err}" for w in region_workers)
                continue
            self._reconciler.reattached({w.id for w in region_workers})
            for worker in region_workers:
                self._touch(worker)
                done.append(worker.name)
        self._publish()
        return ActionResult("re-tag", tuple(done), tuple(refused), tuple(failed))

    async def set_auto_stop_opt_out(self, worker_ids: Sequence[str], opt_out: bool) -> ActionResult:
        action = "opt out of auto-stop" if opt_out else "opt in to auto-stop"
        if self.read_only:
            return self._refuse_all(action, worker_ids, "read-only mode")
        workers, refused = self._resolve(worker_ids)
        done = []
        for worker in workers:
            worker.set_auto_stop_opt_out(opt_out, updated_by=self.user)
            self._touch(worker)
            done.append(worker.name)
        await self._commit()
        self._publish()
        return ActionResult(action, tuple(done), tuple(refused))

    def in_flight_report(self) -> list[str]:
        """What an interrupted command leaves: each action whose call went out (or was about
        to) without an answer yet. Its intent is saved, so the next refresh completes it."""
        lines = []
        for worker in self._workers.values():
            pending = worker.state.pending_action
            if pending is None or pending.request_token not in self._in_flight:
                continue
            target = pending.aws_instance_id or "no instance yet"
            lines.append(
                f"{pending.action} {visible(worker.name)} ({target}): sent, answer unknown; "
                f"recorded as asked by {pending.requested_by}, the next refresh shows the outcome"
            )
        return sorted(lines)

    # ------------------------------------------------------------------ queries
    @property
    def is_running(self) -> bool:
        """True while the refresh loops run (between ``start`` and ``stop``)."""
        return any(not task.done() for task in self._tasks)

    @property
    def aws_request_count(self) -> int:
        """AWS HTTP requests sent by this controller's gateway so far (retries included)."""
        return self._gateway.request_count

    @property
    def cml_request_count(self) -> int:
        return self._cml_pool.request_count

    def events_for(self, worker_id: str | None, limit: int = 200) -> list[CloudEvent]:
        return list(self._repository.events(worker_id=worker_id, limit=limit))

    def labs(self) -> LabsService:
        """The labs of each worker (polled only while a screen or a command looks at them)
        and the lab actions, recorded through this controller's intents and store."""
        if self._labs is None:
            self._labs = LabsService(
                LabHost(
                    find=self._workers.get,
                    client=self._client,
                    snapshot=self.snapshot,
                    record_intents=self._record_intents,
                    settle=self._settle,
                    unsaved_reason=lambda: (
                        self._region_errors["store"].error
                        if "store" in self._region_errors
                        else "the data file could not be written"
                    ),
                    is_read_only=lambda: self.read_only,
                    user=self.user,
                    clock=self._clock,
                    idle=self.config.idle,
                    poll_seconds=min(LAB_POLL_SECONDS, self.config.refresh.cml_seconds),
                )
            )
        return self._labs

    def find(self, name_or_id: str) -> CMLWorker | None:
        """A worker by id, instance id or (unique, live first) name."""
        if name_or_id in self._workers:
            return self._workers[name_or_id]
        for worker in self._workers.values():
            if worker.state.aws_instance_id == name_or_id:
                return worker
        named = [w for w in self._workers.values() if w.name == name_or_id]
        named.sort(key=lambda w: w.is_terminated)
        return named[0] if named else None
