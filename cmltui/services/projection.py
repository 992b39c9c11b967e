"""The published view of the fleet: worker snapshots, fleet totals, the error list and change sets.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from math import fsum

from cmltui.domain.billing import CostFigures, dates_period
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import (
    ControllerBase,
    _WorkerRuntime,
)
from cmltui.services.cost import cost_since_start, hourly_cost, uptime_seconds
from cmltui.services.history import TelemetryHistory
from cmltui.services.idle_policy import IdleVerdict, evaluate_idle
from cmltui.services.policy_view import policy_view, resolve_policy
from cmltui.services.ports import (
    ChangeSetListener,
)
from cmltui.services.reconciler import CopyConflict
from cmltui.services.snapshot import (
    ChangeSet,
    FleetTotals,
    RowFigures,
    SourceHealth,
    WorkerSnapshot,
)

log = logging.getLogger("cmltui.controller")


class ProjectionMixin(ControllerBase):
    def subscribe(self, listener: ChangeSetListener) -> None:
        self._listeners.append(listener)

    def _runtime_for(self, worker_id: str) -> _WorkerRuntime:
        runtime = self._runtime.get(worker_id)
        if runtime is None:
            runtime = _WorkerRuntime(TelemetryHistory(self._history_capacity))
            self._runtime[worker_id] = runtime
        return runtime

    def _idle_verdict(self, worker: CMLWorker, now: datetime) -> IdleVerdict:
        """The idle rule under the worker's own policy (its threshold, schedule, maintenance):
        the row's idle mark and the header's idle count both come from here."""
        tag = self._reconciler.schedule_tags.get(worker.id)
        effective = resolve_policy(worker, self.config, self._schedules, tag, now)
        schedule = self._schedules.get(effective.schedule) if effective.schedule else None
        return evaluate_idle(worker, self.config.idle, now, effective=effective, schedule=schedule)

    def snapshot(self, worker: CMLWorker, now: datetime | None = None) -> WorkerSnapshot:
        now = now or self._clock()
        state = worker.state
        runtime = self._runtime_for(worker.id)
        tag = self._reconciler.schedule_tags.get(worker.id)
        verdict = self._idle_verdict(worker, now)
        running = state.status == CMLWorkerStatus.RUNNING
        measured_at = runtime.telemetry_at or state.last_telemetry_at
        live = running and self._telemetry_is_fresh(measured_at, now)
        cost_today, cost_week = self._cost.figures(state, now)
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
            service_pending=running and not runtime.cml_answered,
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
            problems=self._reconciler.problems_of(worker.id) + self._schedule_problems_of(worker),
            ssh_login=self._ssh_login(worker),
            cost_today_usd=cost_today.cost_usd,
            cost_week_usd=cost_week.cost_usd,
            saved_today_usd=cost_today.saved_usd,
            saved_week_usd=cost_week.saved_usd,
            policy=policy_view(worker, self.config, self._schedules, tag, verdict, now),
        )

    @property
    def cost_zone(self) -> tzinfo:
        """The zone whose days the cost figures count ([cost] time_zone, else this machine's)."""
        return self._cost.zone

    def cost_this_week(self) -> tuple[date, date]:
        """This cost week's first local date, and today's."""
        now = self._clock()
        week = self._cost.periods(now).week
        return week.start.astimezone(self.cost_zone).date(), now.astimezone(self.cost_zone).date()

    def cost_in(
        self, first: date, last: date
    ) -> tuple[datetime, list[tuple[WorkerSnapshot, CostFigures]]]:
        """Now, and every worker with what it billed and saved from the start of local date
        ``first`` to the end of ``last`` (until now)."""
        now = self._clock()
        period = dates_period(first, last, self.cost_zone)
        return now, [
            (
                self.snapshot(worker, now),
                self._cost.trail(worker.state).figures(
                    period, now, self.config.cost.hourly_for(worker.state.instance_type)
                ),
            )
            for worker in self._workers.values()
        ]

    def _ssh_login(self, worker: CMLWorker) -> str | None:
        """``user@address`` for SSH to the worker's OS (the user is ``cml_worker_username``)."""
        state = worker.state
        address = state.public_ip or state.private_ip
        if worker.is_terminated or not address:
            return None
        return f"{self.config.cml_worker_username}@{address}"

    def _telemetry_is_fresh(self, measured_at: datetime | None, now: datetime) -> bool:
        """Figures count as live for three polling intervals of their sources."""
        if measured_at is None:
            return False
        refresh = self.config.refresh
        window = 3 * max(refresh.cml_seconds, refresh.cloudwatch_seconds)
        return (now - measured_at).total_seconds() <= window

    def totals(self, now: datetime | None = None) -> FleetTotals:
        """The header's figures, summed from the rows as last published.

        The header and the rows then agree (the idle count is the rows marked idle), and a
        publication does not work out every worker's idle rule and costs a second time: at
        1,000 workers that was a sixth of the engine thread's work (py-spy), as each of a
        cycle's seven publications did it for the whole fleet. A worker not published yet
        is worked out as its row would be."""
        now = now or self._clock()
        live = running = stopped = idle = 0
        cpus: list[float] = []
        # Summed with fsum: exact, so the figures do not depend on the workers' order.
        per_hour: list[float] = []
        so_far: list[float] = []
        for worker in self._workers.values():
            row = self._published.get(worker.id) or RowFigures.of(self.snapshot(worker, now))
            if row.status == CMLWorkerStatus.TERMINATED:
                continue
            live += 1
            per_hour.append(row.hourly_cost_usd)
            so_far.append(row.cost_so_far_usd)
            if row.status == CMLWorkerStatus.STOPPED:
                stopped += 1
            elif row.status == CMLWorkerStatus.RUNNING:
                running += 1
                idle += row.is_idle
                if row.seen_cpu_utilization is not None:
                    cpus.append(row.seen_cpu_utilization)
        today, week = self._cost.fleet((w.state for w in self._workers.values()), now)
        return FleetTotals(
            total=live,
            running=running,
            stopped=stopped,
            idle=idle,
            average_cpu=(fsum(cpus) / len(cpus)) if cpus else None,
            cost_per_hour_usd=fsum(per_hour),
            cost_so_far_usd=fsum(so_far),
            cost_today_usd=today.cost_usd,
            cost_week_usd=week.cost_usd,
            saved_today_usd=today.saved_usd,
            saved_week_usd=week.saved_usd,
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
        changed = tuple(
            self.snapshot(self._workers[i], now) for i in worker_ids if i in self._workers
        )
        for worker_id in self._removed_ids:
            self._published.pop(worker_id, None)
        for row in changed:
            self._published[row.id] = RowFigures.of(row)
        return ChangeSet(
            changed=changed,
            removed_ids=tuple(sorted(self._removed_ids)) if not full else (),
            totals=self.totals(now),
            errors=self._errors(),
            last_success_at=self._last_success_at,
            from_cache=self._from_cache,
            all_regions_failing=self._all_regions_failing,
            is_full=full,
            generated_at=now,
            policy_runner=self._shown_runner(),
            policy_runner_is_me=self._shown_runner() == self.holder_id,
        )

    def _shown_runner(self) -> str | None:
        """The lease holder, as the header names it: always when it is another process (it
        reads CML for this one, and runs the policies); this process only when it has
        policies to run (alone with auto-stop off and no schedule, there is nothing to say)."""
        runner = self.policy_runner
        if runner == self.holder_id and not (self.config.idle.auto_stop or self._schedules):
            return None
        return runner

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

    def _touch_time_derived(self) -> None:
        """Rows whose shown uptime or idle time moved on, or whose figures went stale, since
        they were last published.

        Only changed rows are published; uptime and idle time change with the clock alone, so
        a row that changed nothing else would show them frozen. Minutes are what is shown past
        the first minute, so most rows are republished about once a minute.
        """
        now = self._clock()
        for worker in self._workers.values():
            # A new cost day, or a minute more saved by an automatic stop: its figures moved.
            cost_step = self._cost.shown_step(worker.state, now)
            if self._cost_steps.get(worker.id) != cost_step:
                self._cost_steps[worker.id] = cost_step
                self._pending_ids.add(worker.id)
            if worker.state.status != CMLWorkerStatus.RUNNING:
                continue
            runtime = self._runtime_for(worker.id)
            live = self._telemetry_is_fresh(
                runtime.telemetry_at or worker.state.last_telemetry_at, now
            )
            key = (
                _shown_step(uptime_seconds(worker.state, now)),
                _shown_step(
                    (now - idle_since).total_seconds()
                    if (idle_since := worker.idle_since())
                    else None
                ),
                int(live),
            )
            if self._time_keys.get(worker.id) != key:
                self._time_keys[worker.id] = key
                self._pending_ids.add(worker.id)

    def _touch(self, worker: CMLWorker) -> None:
        self._pending_ids.add(worker.id)


def _shown_step(seconds: float | None) -> int | None:
    """The step at which a duration's text changes: 5 s under a minute, then a minute."""
    if seconds is None:
        return None
    return int(seconds // 5) if seconds < 60 else 100 + int(seconds // 60)
