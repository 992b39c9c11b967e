"""The CML cycle: each running worker's controller, polled concurrently.

Per worker, in this order (the order matters): system information first (is CML up, which
version; a controller refusing connections past the boot grace is an error); then the activity
feed (its lab events tell the client which labs to read again); then stats, labs and, when due,
licensing together; telemetry is applied last, from all of them.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from cmltui.cml.errors import CmlError, CmlNotReadyError
from cmltui.cml.models import (
    CmlActivityEvent,
    CmlLab,
    CmlLicensing,
    CmlSystemInfo,
    CmlSystemStats,
)
from cmltui.cml.status_map import service_status_for
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.domain.errors import DomainError
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import _WorkerRuntime
from cmltui.services.ports import (
    CmlClient,
)
from cmltui.services.shared_polling import SharedPollingMixin

log = logging.getLogger("cmltui.controller")

#: CML figures read this recently are fresh enough for an automatic stop (else read again).
FRESH_FOR_STOP = timedelta(seconds=5)


class CmlPollerMixin(SharedPollingMixin):
    def _cml_targets(self) -> list[CMLWorker]:
        return [
            w
            for w in self._workers.values()
            if w.state.status == CMLWorkerStatus.RUNNING and w.state.https_endpoint
        ]

    def _set_cml_error(self, worker: CMLWorker, message: str | None) -> None:
        """Record the outcome of a CML read: every path of a cycle ends here, so this is also
        where the worker stops being "pending" (no answer yet since it last started)."""
        runtime = self._runtime_for(worker.id)
        if not runtime.cml_answered:
            runtime.cml_answered = True
            self._touch(worker)
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

    def _full_read_due(self, worker: CMLWorker, runtime: _WorkerRuntime) -> bool:
        """Whether this cycle reads what rarely changes (system information, labs list,
        licence) whatever the events say: the first cycle, after any error or a service that
        was not available, and every ``refresh.cml_full_read_cycles`` cycles (staggered per
        worker so that full reads spread over the cycles)."""
        return (
            runtime.cml_full_read_due
            or worker.state.service_status != CMLServiceStatus.AVAILABLE
            or runtime.cml_cycles_since_full >= self.config.refresh.cml_full_read_cycles - 1
        )

    async def _read_system_information(
        self, worker: CMLWorker, client: CmlClient
    ) -> CmlSystemInfo | None:
        """System information, applied to the worker; None when CML is not available (the
        worker's service state and error then say why)."""
        endpoint = worker.state.https_endpoint
        runtime = self._runtime_for(worker.id)
        try:
            info = await client.system_information()
        except CmlError as err:
            runtime.cml_cpu_known = False
            runtime.cml_full_read_due = True
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
                return None
            worker.update_service_status(service_status_for(err), endpoint)
            # A controller that is still booting is a state (STARTING), not an error.
            self._set_cml_error(worker, None if booting else err.reason)
            return None
        service = service_status_for(info)
        runtime.version_supported = info.version_supported
        worker.update_service_status(service, endpoint, cml_version=info.version)
        if service != CMLServiceStatus.AVAILABLE:
            self._set_cml_error(worker, None)
            runtime.cml_cpu_known = False
            runtime.cml_full_read_due = True
            return None
        return info

    async def _poll_worker_cml(self, worker: CMLWorker) -> None:
        """One worker's cycle. A full read asks system information first (is CML up, which
        version), then the rest; a lean cycle (the steady state) asks only the activity feed
        and the stats, plus the labs when the feed names a lab event and the licence when it
        names a licence event or the licence is due. A lean cycle that fails asks system
        information at once, so a controller that went down shows as such in this cycle."""
        client = self._client(worker)
        endpoint = worker.state.https_endpoint
        runtime = self._runtime_for(worker.id)
        full = self._full_read_due(worker, runtime)
        if full and await self._read_system_information(worker, client) is None:
            return
        now = self._clock()
        license_due = full and (
            runtime.license_checked_at is None
            or (now - runtime.license_checked_at).total_seconds()
            >= self.config.refresh.cml_license_seconds
        )
        # Activity first: its lab and licence events say what needs reading again.
        activity: list[CmlActivityEvent] | CmlError
        try:
            activity = await client.new_activity_events()
        except CmlError as err:
            activity = err
        read_labs = full or client.labs_may_have_changed
        license_due = license_due or client.licence_may_have_changed
        stats, labs, licensing = await asyncio.gather(
            client.system_stats(),
            _labs_if(client, read_labs),
            _licensing_if(client, license_due),
            return_exceptions=True,
        )
        results = (stats, labs, licensing, activity)
        errors = [r for r in results if isinstance(r, BaseException)]
        unexpected = [r for r in errors if not isinstance(r, CmlError)]
        if unexpected:
            log.error("unexpected CML client error: %r", unexpected[0])
        if errors and not full:
            # A lean cycle failed: is CML still up? (Its answer sets the service state.)
            runtime.cml_full_read_due = True
            if await self._read_system_information(worker, client) is None:
                return
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
        if errors:
            runtime.cml_full_read_due = True
        elif full:
            runtime.cml_full_read_due = False
            runtime.cml_cycles_since_full = 0
            if not runtime.cml_first_full_done:
                # Staggered: each worker's next full read falls on its own cycle.
                runtime.cml_first_full_done = True
                cycles = self.config.refresh.cml_full_read_cycles
                runtime.cml_cycles_since_full = zlib.crc32(worker.id.encode()) % cycles
        else:
            runtime.cml_cycles_since_full += 1

    def _apply_cml_telemetry(
        self,
        worker: CMLWorker,
        stats: CmlSystemStats | BaseException,
        labs: list[CmlLab] | BaseException | None,
        activity: list[CmlActivityEvent] | CmlError,
        now: datetime,
    ) -> None:
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
        if labs is not None and not isinstance(labs, BaseException):
            active_labs = sum(1 for lab in labs if lab.is_active)
        # Activity: a running lab, a user event, or CPU above the threshold. Before any is
        # seen, the last start is the baseline, so idleness counts from the start.
        last_activity = worker.idle_since() or worker.state.last_started_at or now
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
        """Poll every running worker's CML concurrently (the pool bounds the concurrency),
        except those the policy runner's fresh poll mark covers (``shared_polling``)."""
        await self.load()
        targets = self._cml_targets()
        # Clients of workers that stopped or vanished are closed.
        target_ids = {w.id for w in targets}
        for worker_id in [wid for wid in self._runtime if wid not in target_ids]:
            runtime = self._runtime[worker_id]
            runtime.cml_cpu_known = False
            runtime.cml_full_read_due = True  # a start or a new endpoint: read everything
            with contextlib.suppress(Exception):
                await self._cml_pool.forget(worker_id)
        started = time.perf_counter()
        runner = await self._cml_runner()
        borrowed, mark = (set(), None) if runner else await self._borrowable(targets)
        polled = [w for w in targets if w.id not in borrowed]
        for worker in polled:
            self._runtime_for(worker.id).cml_borrowed = False
        await asyncio.gather(*(self._poll_worker_safely(w) for w in polled))
        if mark is not None:
            self._adopt_borrowed([w for w in targets if w.id in borrowed], mark)
        await self._apply_idle_policy(lease_held=runner)  # claimed above, once a cycle
        await self._apply_schedules()
        if runner:
            await self._store_poll_mark(polled, time.perf_counter() - started)
        await self._commit()
        self._touch_time_derived()
        self._publish()

    async def _read_before_stop(self, workers: Sequence[CMLWorker]) -> bool:
        """Read CML again for workers about to be stopped automatically whose figures are not
        fresh (the EC2 loop applies the idle rule on the last CML cycle's figures): a lab
        started since then keeps its worker up. True when any was read."""
        now = self._clock()
        stale = [
            worker
            for worker in workers
            if worker.state.https_endpoint
            and (
                (at := self._runtime_for(worker.id).telemetry_at) is None
                or now - at > FRESH_FOR_STOP
            )
        ]
        if not stale:
            return False
        await asyncio.gather(*(self._poll_worker_safely(worker) for worker in stale))
        return True

    async def _poll_worker_safely(self, worker: CMLWorker) -> None:
        try:
            await self._poll_worker_cml(worker)
        except Exception as err:  # never let one worker stop the others
            log.exception("CML poll of %s failed", worker.name)
            self._set_cml_error(worker, f"unexpected error: {type(err).__name__}")
        if worker.uncommitted_events:
            self._touch(worker)


async def _labs_if(client: CmlClient, due: bool) -> list[CmlLab] | None:
    """The labs when they may have changed (1 + changed labs requests), else None (none)."""
    return await client.labs() if due else None


async def _licensing_if(client: CmlClient, due: bool) -> CmlLicensing | None:
    """The licence state when due (one request), else None (no request)."""
    return await client.licensing() if due else None
