"""The idle policy applied: only by the process holding the policy lease, each stop recorded
as an intent first.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from cmltui.aws.errors import AwsError
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import (
    _IDLE_POLICY_ACTOR,
    ControllerBase,
    _without_region,
)
from cmltui.services.idle_policy import evaluate_idle
from cmltui.services.outcomes import settle_accepted
from cmltui.services.policy_view import resolve_policy
from cmltui.services.snapshot import (
    SourceHealth,
)

log = logging.getLogger("cmltui.controller")


class IdleRunnerMixin(ControllerBase):
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

    async def _apply_idle_policy(self, lease_held: bool | None = None) -> None:
        """``lease_held``: the lease as this cycle already claimed it (None: claim it now)."""
        if self.read_only or not self.config.idle.auto_stop:
            return
        async with self._policy_lock:  # the EC2 and CML loops both apply it: one pass at a time
            if not (await self._holds_policy_lease() if lease_held is None else lease_held):
                return
            await self._apply_idle_policy_held()

    async def _apply_idle_policy_held(self) -> None:
        now = self._clock()
        by_region = self._idle_stops(now)
        candidates = [w for entries in by_region.values() for w, _, _ in entries]
        if candidates and await self._read_before_stop(candidates):
            by_region = self._idle_stops(now)  # a lab started since the last CML cycle
        workers = [w for entries in by_region.values() for w, _, _ in entries]
        tokens = await self._record_intents("auto-stop", workers, _IDLE_POLICY_ACTOR)
        if tokens is None:
            return  # the data file cannot be written: no automatic stop without its record
        try:
            for region, entries in by_region.items():
                await self._send_auto_stop(region, entries, tokens, now)
        finally:
            self._in_flight.difference_update(tokens.values())

    def _idle_stops(self, now: datetime) -> dict[str, list[tuple[CMLWorker, float, str]]]:
        """The workers the idle rule would stop now, by region (with idle minutes and why)."""
        by_region: dict[str, list[tuple[CMLWorker, float, str]]] = {}
        for worker in self._workers.values():
            if self._schedule_governs(worker):
                continue  # its schedule's runner decides (it keeps it up inside a window)
            if worker.state.open_actions():
                continue  # an action (anyone's) is still unanswered: wait for its outcome
            tag = self._reconciler.schedule_tags.get(worker.id)
            effective = resolve_policy(worker, self.config, self._schedules, tag, now)
            verdict = evaluate_idle(worker, self.config.idle, now, effective=effective)
            if verdict.should_stop_now and worker.state.aws_instance_id:
                by_region.setdefault(worker.state.aws_region, []).append(
                    (worker, verdict.idle_minutes or 0.0, verdict.reason)
                )
        return by_region

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
            stop = partial(worker.record_auto_stop, f"auto-stop: {reason}", idle_minutes)
            settle_accepted(worker, tokens[worker.id], stop)
            self._touch(worker)
