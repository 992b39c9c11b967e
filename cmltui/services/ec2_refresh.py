"""The EC2 cycle: one describe per region (and a by-id lookup of missing instances), applied by the
reconciler; interrupted actions given up on.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import asyncio
import logging

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.aws.errors import AwsError
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import (
    _PENDING_ACTION_WAIT,
    ControllerBase,
    _without_region,
)
from cmltui.services.snapshot import (
    SourceHealth,
)

log = logging.getLogger("cmltui.controller")


class Ec2RefreshMixin(ControllerBase):
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
        runtime.cml_answered = False  # pending again once it runs

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
        self._touch_time_derived()
        self._publish()

    async def _expire_pending_actions(self, regions: set[str]) -> None:
        """Intents whose caller died and that EC2 never showed: recorded as not observed.

        Only in regions that answered this cycle (an intent is not given up on while its region
        cannot be seen); a create that never got an instance loses its record (not its events).
        """
        for worker in list(self._workers.values()):
            if worker.state.aws_region not in regions or not worker.state.open_actions():
                continue
            # Actions this process still waits an answer for are never given up on.
            pending = worker.expire_pending_action(_PENDING_ACTION_WAIT, keep=self._in_flight)
            if pending is None:
                continue
            self._touch(worker)
            if pending.action == "create" and not worker.state.aws_instance_id:
                await self._forget(worker)
