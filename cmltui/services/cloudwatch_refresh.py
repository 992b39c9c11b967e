"""The CloudWatch cycle: CPU of running instances, one batched call per region; CML figures win
when known.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import asyncio
import logging

from cmltui.aws.errors import AwsError
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.controller_base import (
    ControllerBase,
    _without_region,
)
from cmltui.services.snapshot import (
    SourceHealth,
)

log = logging.getLogger("cmltui.controller")


class CloudWatchRefreshMixin(ControllerBase):
    async def _refresh_region_cpu(self, region: str) -> None:
        running = {
            w.state.aws_instance_id: w
            for w in self._workers.values()
            if w.state.aws_region == region
            and w.state.status == CMLWorkerStatus.RUNNING
            and w.state.aws_instance_id
            # The policy runner's stored figures cover it (see ``shared_polling``).
            and not ((rt := self._runtime.get(w.id)) is not None and rt.cml_borrowed)
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
            last_activity = worker.idle_since() or worker.state.last_started_at or now
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
