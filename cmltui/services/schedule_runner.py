"""Schedules applied: starts ahead of each window, stops once idle after it closes.

Only the process holding the policy lease acts, each start or stop recorded as an intent first
(``_record_intents``), and each region's starts (and stops) go out in one AWS call. A worker
governed by a schedule (its own policy's, else its ``cmltui:schedule`` tag) is left alone by the
idle runner: this runner applies its idle rule outside the windows (the threshold and the
maintenance of ``domain.policy.effective_policy``) and keeps it up inside them. The rule itself is
``cmltui.services.schedules.schedule_decision``.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial

from cmltui.aws.dto import SCHEDULE_TAG
from cmltui.aws.errors import AwsError
from cmltui.domain.names import visible
from cmltui.domain.policy import EffectivePolicy, effective_policy
from cmltui.domain.schedule import Schedule
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import ControllerBase, _without_region
from cmltui.services.outcomes import settle_accepted
from cmltui.services.schedules import ScheduleDecision, schedule_decision
from cmltui.services.snapshot import SourceHealth

log = logging.getLogger("cmltui.controller")

_SCHEDULE_ACTOR = "cmltui:schedule"


class ScheduleRunnerMixin(ControllerBase):
    @property
    def schedules(self) -> dict[str, Schedule]:
        """The configured schedules by name (``schedules_from_config``, built once)."""
        return self._schedules

    def _schedule_policy(self, worker: CMLWorker, now: datetime) -> EffectivePolicy:
        """The worker's policy for its schedule's rule (``domain.policy``): the global
        ``[idle] auto_stop`` switch does not hold a schedule's stops back."""
        return effective_policy(
            worker.state,
            global_idle_minutes=self.config.idle.threshold_minutes,
            global_auto_stop=True,
            schedules=self._schedules,
            schedule_tag=self._reconciler.schedule_tags.get(worker.id),
            now=now,
        )

    def _schedule_name_of(self, worker: CMLWorker) -> str | None:
        """The schedule the worker follows: its own policy's, else its ``cmltui:schedule`` tag
        as last described."""
        return worker.state.policy_schedule or self._reconciler.schedule_tags.get(worker.id)

    def _schedule_of(self, worker: CMLWorker) -> Schedule | None:
        name = self._schedule_name_of(worker)
        return self.schedules.get(name) if name else None

    def _schedule_governs(self, worker: CMLWorker) -> bool:
        """Whether a schedule, not the idle runner, decides this worker's automatic stops."""
        return self._schedule_of(worker) is not None

    def _schedule_problems_of(self, worker: CMLWorker) -> tuple[str, ...]:
        """A schedule name that is not in the config: shown on the worker, never acted on."""
        name = self._schedule_name_of(worker)
        if not name or name in self.schedules or worker.is_terminated:
            return ()
        known = ", ".join(sorted(self.schedules)) or "none configured"
        return (
            f"schedule {visible(name)!r} (tag {SCHEDULE_TAG}) is not in the config "
            f"(known: {known}); no schedule applies",
        )

    def _schedule_decisions(self, now: datetime) -> list[tuple[CMLWorker, ScheduleDecision]]:
        decisions = []
        for worker in self._workers.values():
            schedule = self._schedule_of(worker)
            state = worker.state
            if schedule is None or worker.is_terminated or not state.aws_instance_id:
                continue
            if state.open_actions():
                continue  # an action (anyone's) is still unanswered: wait for its outcome
            policy = self._schedule_policy(worker, now)
            decision = schedule_decision(
                worker,
                schedule,
                self.config,
                now,
                idle_threshold_minutes=policy.idle_minutes,
                auto_stop_allowed=policy.maintenance_until is None,
            )
            if decision.action is not None:
                decisions.append((worker, decision))
        return decisions

    async def _apply_schedules(self) -> None:
        """One pass of every schedule: the starts, then the stops, each batched per region."""
        if self.read_only or not self.schedules:
            return
        async with self._policy_lock:  # never beside the idle policy's pass (the other loop)
            await self._apply_schedules_unlocked()

    async def _apply_schedules_unlocked(self) -> None:
        now = self._clock()
        if not self._schedule_decisions(now):
            return
        if not await self._holds_policy_lease():
            return
        decisions = self._schedule_decisions(now)  # the lease's read may have merged news
        stops = [worker for worker, decision in decisions if decision.action == "stop"]
        if stops and await self._read_before_stop(stops):
            decisions = self._schedule_decisions(now)  # a lab started since the last read
        for action in ("start", "stop"):
            chosen = [(w, d) for w, d in decisions if d.action == action]
            if chosen:
                await self._send_scheduled(action, chosen, now)

    async def _send_scheduled(
        self, action: str, chosen: list[tuple[CMLWorker, ScheduleDecision]], now: datetime
    ) -> None:
        tokens = await self._record_intents(
            f"auto-{action}", [w for w, _ in chosen], _SCHEDULE_ACTOR
        )
        if tokens is None:
            return  # the data file cannot be written: no automatic action without its record
        by_region: dict[str, list[tuple[CMLWorker, ScheduleDecision]]] = {}
        for worker, decision in chosen:
            by_region.setdefault(worker.state.aws_region, []).append((worker, decision))
        call: Callable[[str, Sequence[str]], Awaitable[None]] = (
            self._gateway.start_instances if action == "start" else self._gateway.stop_instances
        )
        try:
            for region, entries in by_region.items():
                await self._send_region(action, call, region, entries, tokens, now)
        finally:
            self._in_flight.difference_update(tokens.values())

    async def _send_region(
        self,
        action: str,
        call: Callable[[str, Sequence[str]], Awaitable[None]],
        region: str,
        entries: list[tuple[CMLWorker, ScheduleDecision]],
        tokens: dict[str, str],
        now: datetime,
    ) -> None:
        key = f"{region}/schedule-{action}"
        try:
            await call(region, [w.state.aws_instance_id or "" for w, _ in entries])
        except AwsError as err:
            log.warning("schedule %s in %s failed: %s", action, region, err)
            previous = self._region_errors.get(key)
            self._region_errors[key] = SourceHealth(
                f"{region} schedule {action}",
                _without_region(str(err), region),
                previous.since if previous else now,
            )
            for worker, _ in entries:
                worker.complete_action(tokens[worker.id], "failed", str(err))
                self._touch(worker)
            return
        self._region_errors.pop(key, None)
        for worker, decision in entries:
            if action == "start":
                effect = partial(
                    worker.record_auto_start,
                    f"auto-start: {decision.reason}",
                    window_key=decision.window_key,
                )
            else:
                effect = partial(
                    worker.record_auto_stop,
                    f"auto-stop: {decision.reason}",
                    decision.idle_minutes,
                    kind=decision.kind,
                )
            settle_accepted(worker, tokens[worker.id], effect)
            self._touch(worker)
