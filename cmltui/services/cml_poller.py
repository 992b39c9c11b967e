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
from datetime import datetime

from cmltui.cml.errors import CmlError, CmlNotReadyError
from cmltui.cml.models import CmlActivityEvent, CmlLab, CmlLicensing, CmlSystemStats
from cmltui.cml.status_map import service_status_for
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.domain.errors import DomainError
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import (
    ControllerBase,
)
from cmltui.services.ports import (
    CmlClient,
)

log = logging.getLogger("cmltui.controller")


class CmlPollerMixin(ControllerBase):
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
        activity: list[CmlActivityEvent] | CmlError
        try:
            activity = await client.new_activity_events()
        except CmlError as err:
            activity = err
        stats, labs, licensing = await asyncio.gather(
            client.system_stats(),
            client.labs(),
            _licensing_if(client, license_due),
            return_exceptions=True,
        )
        results = (stats, labs, licensing, activity)
        errors = [r for r in results if isinstance(r, BaseException)]
        unexpected = [r for r in errors if not isinstance(r, CmlError)]
        if unexpected:
            log.error("unexpected CML client error: %r", unexpected[0])
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

    def _apply_cml_telemetry(
        self,
        worker: CMLWorker,
        stats: CmlSystemStats | BaseException,
        labs: list[CmlLab] | BaseException,
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
        self._touch_time_derived()
        self._publish()

    async def _poll_worker_safely(self, worker: CMLWorker) -> None:
        try:
            await self._poll_worker_cml(worker)
        except Exception as err:  # never let one worker stop the others
            log.exception("CML poll of %s failed", worker.name)
            self._set_cml_error(worker, f"unexpected error: {type(err).__name__}")
        if worker.uncommitted_events:
            self._touch(worker)


async def _licensing_if(client: CmlClient, due: bool) -> CmlLicensing | None:
    """The licence state when due (one request), else None (no request)."""
    return await client.licensing() if due else None
