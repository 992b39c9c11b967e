"""The simulated week, run: cmltui's ``FleetController`` against the demo servers, the clock
injected and moved from one thing that happens to the next (no real waiting).

What happens, in time order (an agenda): the trace's labs start and stop on the fake CML
(``set_lab_state``), users arrive and start workers by hand (in EC2, outside cmltui) or log in
(``add_activity``), each CML becomes ready its boot time after its instance started (the fake's
``ready`` flag: a start is "not ready" for real until then), class openings are checked, and
the engine runs its cycles: ``refresh_ec2`` then ``refresh_cml``, each applying the idle and
schedule runners, as its two loops do.

When the engine cycles run (a real one runs its EC2 loop every 15 s and its CML loop every 30 s;
running that many cycles for a week would take an hour, so the bench runs the ones that matter):

- every 30 minutes while a worker runs outside its class window (an idle countdown is on), every
  60 minutes otherwise (inside windows nothing is decided; the activity feed still gives each
  event's own time, so a coarse cycle loses nothing);
- 30 s after a lab stopped or a user did something on a worker outside its window (its idle
  countdown starts again from there: the CML loop reads it within 30 s);
- at the instant the engine itself says it will act, rounded up to its 30 s CML cycle: a
  stopped scheduled worker's start (the opening less its lead time, ``lead_minutes``), a
  running worker's idle stop (``auto_stop_in_minutes`` of its snapshot);
- at each window's opening and close and the maintenance window's end;
- 30 s after a CML became ready (the CML loop sees it: the boot-to-ready time learned is right);
- 15 s after a user started an instance by hand: the EC2 part only (the EC2 loop sees it).

The ground truth (what EC2 and the CML really did) is read after every engine call: moto's
in-process backend for the instance states, the fake CML for the labs.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time as wall
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from _week_fleet import WeekFleet, WorkerPlan, policy_config
from _week_trace import WEEK_START, Arrival, LabRun, WeekTrace

#: Order of things that happen at the same instant.
READY, LAB_STOP, LAB_START, ACTIVITY, ARRIVE, OPENING, EC2, CYCLE = range(8)
BUSY_CADENCE = timedelta(minutes=30)
QUIET_CADENCE = timedelta(minutes=60)
CML_CYCLE_SECONDS = 30.0
LOGIN_ACTIVITY_EVERY = timedelta(minutes=4)


@dataclass
class Settings:
    """cmltui's policy for the week (the operator's choices)."""

    idle_minutes: int = 20  # [idle] threshold_minutes (ad-hoc and evening use)
    snooze_minutes: int = 30  # no idle stop this long after any start
    busy_cadence: timedelta = BUSY_CADENCE
    quiet_cadence: timedelta = QUIET_CADENCE


@dataclass
class Counts:
    stops_during_started_lab: int = 0
    class_starts_not_ready: int = 0
    lab_starts_not_ready: int = 0
    stops_in_maintenance: int = 0
    stops_in_window: int = 0
    engine_starts: int = 0
    engine_stops: int = 0
    hand_starts: int = 0
    cycles: int = 0
    ec2_refreshes: int = 0
    details: list[str] = field(default_factory=list)


def _ceil_to(at: datetime, seconds: float) -> datetime:
    offset = (at - WEEK_START).total_seconds()
    return WEEK_START + timedelta(seconds=math.ceil(offset / seconds - 1e-9) * seconds)


class WeekSim:
    def __init__(self, trace: WeekTrace, settings: Settings | None = None) -> None:
        from cmltui.domain.clock import FrozenClock

        self.trace = trace
        self.settings = settings or Settings()
        self.clock = FrozenClock(WEEK_START - timedelta(hours=1))
        self.rng = random.Random(trace.seed * 7919 + 1)
        self.plans = [
            WorkerPlan(f"cml-{index + 1:02d}", region, schedule, trace.boot_minutes[index])
            for index, (region, schedule) in enumerate(
                zip(trace.regions, trace.worker_schedule, strict=True)
            )
        ]
        self.fleet = WeekFleet(self.clock, self.plans, trace.seed)
        self.counts = Counts()
        self._agenda: list[tuple[datetime, int, int, Any]] = []
        self._order = itertools.count()
        self._cycles_pending: set[datetime] = set()
        self._base_due: datetime | None = None
        self._powered = [False] * len(self.plans)
        self._ready = [False] * len(self.plans)
        self._boot_ids = [0] * len(self.plans)
        self._power_log: list[list[tuple[datetime, datetime | None]]] = [[] for _ in self.plans]
        #: When each worker's CML became ready (the ground truth), per worker.
        self.ready_log: list[list[datetime]] = [[] for _ in self.plans]
        self._started_labs: set[tuple[int, int]] = set()
        self._pending_labs: list[LabRun] = []
        self.windows: dict[str, list[tuple[datetime, datetime]]] = {}
        self.controller: Any = None
        self.worker_ids: list[str] = []

    # ------------------------------------------------------------------ agenda
    def _push(self, at: datetime, kind: int, payload: Any = None) -> None:
        if kind == CYCLE and payload != "base":
            if at in self._cycles_pending or at > self.trace.end:
                return
            self._cycles_pending.add(at)
        heapq.heappush(self._agenda, (at, kind, next(self._order), payload))

    def _plan_agenda(self) -> None:
        for run in self.trace.labs:
            self._push(run.start, LAB_START, run)
            self._push(run.end, LAB_STOP, run)
        for arrival in self.trace.arrivals:
            self._push(arrival.at, ARRIVE, arrival)
        for worker, at in self.trace.activity:
            self._push(at, ACTIVITY, worker)
        for name, windows in self.windows.items():
            for opens, closes in windows:
                self._push(opens, OPENING, name)
                self._push(opens, CYCLE)
                self._push(closes, CYCLE)
        if self.trace.maintenance is not None:
            self._push(self.trace.maintenance[2], CYCLE)
        self._push(WEEK_START, CYCLE)
        self._push(self.trace.end, CYCLE)

    # ------------------------------------------------------------------ run
    async def run(self) -> dict[str, Any]:
        from cmltui.domain.schedule import next_window
        from cmltui.domain.worker_policy import PolicyChange

        started = wall.perf_counter()
        settings = self.settings
        controller = await self.fleet.start(
            lambda base: policy_config(
                base,
                schedules=self.trace.schedules,
                cycle_seconds=CML_CYCLE_SECONDS,
                idle_minutes=settings.idle_minutes,
                snooze_minutes=settings.snooze_minutes,
            )
        )
        self.controller = controller
        try:
            for plan in self.plans:
                self.fleet.fake(plan).ready = False  # powered off: it boots when started
            await controller.refresh_ec2()
            self.worker_ids = [controller.find(plan.instance_id).id for plan in self.plans]
            for plan, worker_id in zip(self.plans, self.worker_ids, strict=True):
                plan.worker_id = worker_id
            if self.trace.maintenance is not None:
                chosen, begins, ends = self.trace.maintenance
                result = await controller.set_policy(
                    [self.worker_ids[i] for i in chosen], PolicyChange(maintenance=(begins, ends))
                )
                if result.refused:
                    raise RuntimeError(f"maintenance refused: {result.refused}")
            for name, schedule in controller.schedules.items():
                found, after = [], WEEK_START - timedelta(days=1)
                while (window := next_window(schedule, after)) is not None and window[
                    0
                ] < self.trace.end:
                    found.append(window)
                    after = window[0]
                self.windows[name] = found
            self._plan_agenda()
            await self._loop()
            setup_and_run = wall.perf_counter() - started
            return {"sim": self, "seconds": setup_and_run}
        except BaseException:
            await self.fleet.close()
            raise

    async def _loop(self) -> None:
        while self._agenda:
            at, kind, _, payload = heapq.heappop(self._agenda)
            if at > self.trace.end:
                break
            self.clock.set(at)
            if kind == CYCLE:
                if payload == "base" and at != self._base_due:
                    continue  # a later cycle set the next regular one
                self._cycles_pending.discard(at)
                await self._cycle()
            elif kind == EC2:
                self.counts.ec2_refreshes += 1
                await self.controller.refresh_ec2()
                self._sync_power()
            elif kind == READY:
                self._on_ready(*payload)
            elif kind == LAB_START:
                self._on_lab_start(payload)
            elif kind == LAB_STOP:
                self._on_lab_stop(payload)
            elif kind == ACTIVITY:
                self._on_activity(payload)
            elif kind == ARRIVE:
                self._on_arrive(payload)
            elif kind == OPENING:
                self._on_opening(payload)

    async def close(self) -> None:
        await self.fleet.close()

    # ------------------------------------------------------------------ the engine
    async def _cycle(self) -> None:
        self.counts.cycles += 1
        await self.controller.refresh_ec2()
        self._sync_power()
        await self.controller.refresh_cml()
        self._sync_power()
        self._predict()

    def _predict(self) -> None:
        """Cycles at the instants the engine says it will act, and the next regular one."""
        from cmltui.domain.enums import CMLWorkerStatus
        from cmltui.domain.schedule import next_window, window_at
        from cmltui.services.schedules import lead_minutes

        controller, now = self.controller, self.clock()
        busy = False
        for index, plan in enumerate(self.plans):
            worker = controller.find(plan.worker_id)
            status = worker.state.status
            schedule = controller.schedules.get(plan.schedule) if plan.schedule else None
            in_window = schedule is not None and window_at(schedule, now) is not None
            if status == CMLWorkerStatus.STOPPED and schedule is not None:
                upcoming = window_at(schedule, now) or next_window(schedule, now)
                if upcoming is not None:
                    lead = timedelta(minutes=lead_minutes(worker, schedule, controller.config))
                    self._push(_ceil_to(max(upcoming[0] - lead, now), CML_CYCLE_SECONDS), CYCLE)
            if status == CMLWorkerStatus.RUNNING and self._powered[index] and not in_window:
                busy = True
                stop_in = controller.snapshot(worker, now).auto_stop_in_minutes
                if stop_in is not None and stop_in > 0:
                    at = now + timedelta(minutes=stop_in)
                    self._push(_ceil_to(at, CML_CYCLE_SECONDS), CYCLE)
        cadence = self.settings.busy_cadence if busy else self.settings.quiet_cadence
        # One regular cycle pending at a time: any cycle moves it to a cadence from now.
        self._base_due = _ceil_to(now + cadence, CML_CYCLE_SECONDS)
        self._push(self._base_due, CYCLE, "base")

    # ------------------------------------------------------------------ ground truth
    def _in_window(self, index: int, at: datetime) -> bool:
        name = self.plans[index].schedule
        return any(a <= at < b for a, b in self.windows.get(name or "", ()))

    def _in_maintenance(self, index: int, at: datetime) -> bool:
        maintenance = self.trace.maintenance
        return (
            maintenance is not None
            and index in maintenance[0]
            and (maintenance[1] <= at < maintenance[2])
        )

    def _sync_power(self) -> None:
        """Read EC2's truth: a start or stop since the last look was the engine's (users only
        start, and their starts are recorded when they make them)."""
        now = self.clock()
        for index, plan in enumerate(self.plans):
            powered = self.fleet.ec2_state(plan) in ("pending", "running")
            if powered == self._powered[index]:
                continue
            if powered:
                self.counts.engine_starts += 1
                self._power_on(index, now)
            else:
                self.counts.engine_stops += 1
                self._power_off(index, now)

    def _power_on(self, index: int, now: datetime) -> None:
        self._powered[index] = True
        self._ready[index] = False
        self._boot_ids[index] += 1
        self._power_log[index].append((now, None))
        boot = self.trace.boot_minutes[index] + self.rng.uniform(0.0, 1.0)
        self._push(now + timedelta(minutes=boot), READY, (index, self._boot_ids[index]))

    def _power_off(self, index: int, now: datetime) -> None:
        plan = self.plans[index]
        fake = self.fleet.fake(plan)
        started = [lab for lab in fake.labs_snapshot() if lab.running]
        if started:
            self.counts.stops_during_started_lab += 1
            self.counts.details.append(
                f"{now:%a %H:%M}Z {plan.name} stopped with {len(started)} lab(s) started"
            )
        if self._in_maintenance(index, now):
            self.counts.stops_in_maintenance += 1
            self.counts.details.append(f"{now:%a %H:%M}Z {plan.name} stopped in maintenance")
        if self._in_window(index, now):
            self.counts.stops_in_window += 1
            self.counts.details.append(f"{now:%a %H:%M}Z {plan.name} stopped in its window")
        for lab in started:  # the machine is off: nothing runs on it any more
            fake.set_lab_state(lab.id, "STOPPED")
        self._started_labs = {key for key in self._started_labs if key[0] != index}
        fake.ready = False
        self._powered[index] = False
        self._ready[index] = False
        self._boot_ids[index] += 1
        begun, _ = self._power_log[index][-1]
        self._power_log[index][-1] = (begun, now)

    def _start_by_hand(self, index: int) -> None:
        self.counts.hand_starts += 1
        self.fleet.start_outside(self.plans[index])
        self._power_on(index, self.clock())
        self._push(self.clock() + timedelta(seconds=15), EC2)

    # ------------------------------------------------------------------ what people do
    def _on_ready(self, index: int, boot_id: int) -> None:
        if boot_id != self._boot_ids[index] or not self._powered[index]:
            return
        self._ready[index] = True
        self.ready_log[index].append(self.clock())
        self.fleet.fake(self.plans[index]).ready = True
        self._push(_ceil_to(self.clock() + timedelta(seconds=1), CML_CYCLE_SECONDS), CYCLE)
        waiting, self._pending_labs = self._pending_labs, []
        for run in waiting:
            if run.worker == index and run.end > self.clock():
                self._begin_lab(run)
            elif run.worker != index:
                self._pending_labs.append(run)

    def _begin_lab(self, run: LabRun) -> None:
        plan = self.plans[run.worker]
        self.fleet.fake(plan).set_lab_state(plan.lab_ids[run.lab], "STARTED")
        self._started_labs.add((run.worker, run.lab))

    def _on_lab_start(self, run: LabRun) -> None:
        index = run.worker
        if self._powered[index] and self._ready[index]:
            self._begin_lab(run)
            return
        self.counts.lab_starts_not_ready += 1
        where = "class" if run.in_class else "session"
        self.counts.details.append(
            f"{self.clock():%a %H:%M}Z {self.plans[index].name}: {where} lab found CML not ready"
        )
        self._pending_labs.append(run)  # its user waits for CML (starting it if stopped)
        if not self._powered[index]:
            self._start_by_hand(index)

    def _on_lab_stop(self, run: LabRun) -> None:
        self._pending_labs = [r for r in self._pending_labs if r is not run]
        key = (run.worker, run.lab)
        if key in self._started_labs:
            plan = self.plans[run.worker]
            self.fleet.fake(plan).set_lab_state(plan.lab_ids[run.lab], "STOPPED")
            self._started_labs.discard(key)
            self._seen_by_cml_loop(run.worker)

    def _on_activity(self, index: int) -> None:
        if self._powered[index] and self._ready[index]:
            plan = self.plans[index]
            self.fleet.fake(plan).add_activity(plan.user_id)
            self._seen_by_cml_loop(index)

    def _seen_by_cml_loop(self, index: int) -> None:
        """Outside its window a worker's idle countdown runs from what CML says: its next CML
        cycle (within 30 s) reads the change."""
        if not self._in_window(index, self.clock()):
            self._push(_ceil_to(self.clock() + timedelta(seconds=1), CML_CYCLE_SECONDS), CYCLE)

    def _on_arrive(self, arrival: Arrival) -> None:
        index = arrival.worker
        if not self._powered[index]:
            self._start_by_hand(index)
            return
        # Running already: the user logs in (and prepares the lab until it starts).
        self._push(arrival.at, ACTIVITY, index)
        if arrival.why == "maintenance":
            return
        next_lab = min(
            (r.start for r in self.trace.labs if r.worker == index and r.start >= arrival.at),
            default=arrival.at,
        )
        next_lab = min(next_lab, arrival.at + timedelta(hours=1))
        at = arrival.at
        while at < next_lab:
            self._push(at, ACTIVITY, index)
            at += LOGIN_ACTIVITY_EVERY

    def _on_opening(self, name: str) -> None:
        for index, plan in enumerate(self.plans):
            if plan.schedule == name and not (self._powered[index] and self._ready[index]):
                self.counts.class_starts_not_ready += 1
                self.counts.details.append(
                    f"{self.clock():%a %H:%M}Z {plan.name}: {name} opened, CML not ready"
                )

    # ------------------------------------------------------------------ results
    def power_intervals(self, index: int) -> list[tuple[datetime, datetime]]:
        """What EC2 really ran (the ground truth), open ones closed at the week's end."""
        return [(a, b or self.trace.end) for a, b in self._power_log[index]]
