"""What the UI benches measure on the dashboard's event loop: wake-up lag, change sets applied
and painted, key presses to a painted effect. Shared by ``loop_lag.py`` and
``engine_process_probe.py``."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import random
import time
from typing import Any

from _common import median, percentile

from cmltui.services.snapshot import ChangeSet, WorkerSnapshot

SAMPLE_SECONDS = 0.010
#: A lag sample later than this counts as late (the 1,000-worker p99 target).
LATE_SECONDS = 0.020
#: A key press every KEY_EVERY seconds (+-50 %) while the refreshes run.
KEY_EVERY = 0.25


class LagSampler:
    """Sleeps ``SAMPLE_SECONDS`` in a loop and records how late each wake-up is (seconds).

    ``start()`` on the loop to watch (the UI's, or the engine's from a callback there)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        #: (slept from, woke at) of each sample late by more than ``LATE_SECONDS``
        self.late_spans: list[tuple[float, float]] = []
        #: The UI thread's CPU seconds during each late sample (``late_spans``' order)
        self.late_cpu: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            cpu_before = time.thread_time()
            await asyncio.sleep(SAMPLE_SECONDS)
            woke = time.perf_counter()
            lag = max(0.0, woke - before - SAMPLE_SECONDS)
            self.lags.append(lag)
            if lag > LATE_SECONDS:
                self.late_spans.append((before, woke))
                # The loop's own thread's CPU meanwhile: near the lag, the UI was busy with
                # its own work; near nothing, it waited (the interpreter lock, a collection).
                self.late_cpu.append(time.thread_time() - cpu_before)

    def take(self) -> list[float]:
        lags, self.lags = self.lags, []
        self.late_spans = []
        self.late_cpu = []
        return lags

    def take_late(self) -> list[tuple[float, float]]:
        """The late samples' spans since the last ``take`` (call before ``take``)."""
        return list(self.late_spans)

    def worst_late(
        self, gc_spans: list[tuple[float, float]], count: int = 5
    ) -> list[dict[str, float]]:
        """The ``count`` latest wake-ups since the last ``take``: how late, how much of it the
        UI thread spent on its own work, and how long collections ran inside it."""
        worst = sorted(
            zip(self.late_spans, self.late_cpu, strict=True),
            key=lambda item: item[0][1] - item[0][0],
            reverse=True,
        )[:count]
        return [
            {
                "lag_ms": round((b - a - SAMPLE_SECONDS) * 1000, 1),
                "ui_cpu_ms": round(cpu * 1000, 1),
                "gc_ms": round(sum(max(0.0, min(b, e) - max(a, s)) for s, e in gc_spans) * 1000, 1),
            }
            for (a, b), cpu in worst
        ]

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


def lag_figures(lags: list[float]) -> dict[str, Any]:
    return {
        "samples": len(lags),
        "p50_ms": round(percentile(lags, 0.50) * 1000, 1),
        "p99_ms": round(percentile(lags, 0.99) * 1000, 1),
        "max_ms": round(max(lags) * 1000, 1) if lags else float("nan"),
    }


def every_row_changed(change_set: ChangeSet, round_number: int) -> ChangeSet:
    """The fleet as it stands with every snapshot altered in cells the table shows."""

    def alter(snapshot: WorkerSnapshot) -> WorkerSnapshot:
        cpu = ((snapshot.cpu_utilization or 0.0) + 7.0 + round_number) % 100
        memory = ((snapshot.memory_utilization or 0.0) + 5.0 + round_number) % 100
        return dataclasses.replace(
            snapshot,
            cpu_utilization=round(cpu, 1),
            memory_utilization=round(memory, 1),
            active_labs_count=snapshot.active_labs_count + 1,
            cost_so_far_usd=snapshot.cost_so_far_usd + 1.0,
        )

    return dataclasses.replace(
        change_set, changed=tuple(alter(s) for s in change_set.changed), is_full=False
    )


async def time_change_set(app: Any, change_set: ChangeSet) -> float:
    """Post the change set as the service would; seconds until the screen has been
    refreshed after the table applied all of it (a big one goes in slices, one per turn)."""
    from cmltui.ui.app import FleetChanged

    table = app.main_screen.table
    before = dict(table.snapshots)
    started = time.perf_counter()
    app.post_message(FleetChanged(change_set))
    while True:
        # InvokeLater queues behind FleetChanged and runs after the next screen refresh.
        finished = await _painted(app)
        if not app._draining and not app._pending_slices:
            break
        if finished - started > 30:
            raise RuntimeError("the change set was never applied")
    # Every row got it (or a newer one, should the engine have published meanwhile).
    stale = [s.id for s in change_set.changed if table.snapshots.get(s.id) is before.get(s.id)]
    if stale:
        raise RuntimeError(f"{len(stale)} rows did not get the change set")
    return finished - started


async def _painted(app: Any) -> float:
    painted: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: painted.done() or painted.set_result(time.perf_counter()))
    return await asyncio.wait_for(painted, 30)


async def wait_for_rows(app: Any, count: int, timeout: float = 600.0) -> None:
    deadline = time.perf_counter() + timeout
    while app.main_screen.table.row_count < count:
        if time.perf_counter() > deadline:
            current = app.service.current()
            errors = "; ".join(f"{e.source}: {e.error}" for e in current.errors) or "none"
            raise RuntimeError(
                f"the table never reached {count} rows: {app.main_screen.table.row_count} "
                f"rows, {len(current.changed)} workers published, errors: {errors}"
            )
        await asyncio.sleep(0.05)


async def press_and_time(app: Any, key: str) -> float:
    """Send ``key`` as the terminal driver would; seconds until the table's cursor has moved
    and the screen has been refreshed after it."""
    from textual import events

    table = app.main_screen.table
    before = table.cursor_row
    started = time.perf_counter()
    app._driver.send_message(events.Key(key, None))
    while table.cursor_row == before:
        if time.perf_counter() - started > 30:
            raise RuntimeError(f"{key!r} never moved the cursor")
        await asyncio.sleep(0.002)
    return await _painted(app) - started


class KeyDriver:
    """Presses down and up in turn, one key every ``KEY_EVERY`` s or so, and records the
    seconds from each press to its painted effect."""

    def __init__(self, app: Any, seed: int = 1) -> None:
        self.app = app
        self.times: list[float] = []
        self._rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        key = "down"
        # A flag, not only the cancel: on Python 3.11 ``asyncio.wait_for`` (in ``_painted``)
        # swallows a cancel that arrives as its future completes, and the loop would go on
        # for ever while ``stop`` waits for it (a smoke run hung so on a loaded machine).
        while not self._stopping:
            await asyncio.sleep(KEY_EVERY * self._rng.uniform(0.5, 1.5))
            if self._stopping:
                return
            self.times.append(await press_and_time(self.app, key))
            key = "up" if key == "down" else "down"

    async def stop(self) -> list[float]:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=40)  # a press in flight gives up after 30 s
            if not task.done():
                raise RuntimeError("the key driver did not stop")
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return self.times


def key_figures(times: list[float]) -> dict[str, Any]:
    return {
        "presses": len(times),
        "median_ms": round(median(times) * 1000, 1) if times else float("nan"),
        "p99_ms": round(percentile(times, 0.99) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1) if times else float("nan"),
    }


class GcPauses:
    """Garbage collections of this process (all threads stop for them): count and longest,
    per generation."""

    def __init__(self) -> None:
        #: (generation, wall seconds, seconds of the collecting thread's CPU)
        self.pauses: list[tuple[int, float, float]] = []
        self._started = 0.0
        self._started_cpu = 0.0
        #: (start, end) of each collection, perf_counter seconds
        self.spans: list[tuple[float, float]] = []

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        # Wall time can include waits for the interpreter lock (the callbacks are Python code,
        # between which another thread may take it); the thread's CPU time cannot.
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
        else:
            ended = time.perf_counter()
            self.spans.append((self._started, ended))
            self.pauses.append(
                (info["generation"], ended - self._started, time.thread_time() - self._started_cpu)
            )

    def late_share(self, late_spans: list[tuple[float, float]]) -> dict[str, Any]:
        """How many late lag samples had a collection inside their sleep (call before
        ``take``): those the collector, not only the interpreter lock, made late."""
        with_gc = sum(1 for a, b in late_spans if any(s < b and e > a for s, e in self.spans))
        return {"late_samples": len(late_spans), "with_a_collection": with_gc}

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)

    def take(self) -> dict[str, Any]:
        pauses, self.pauses = self.pauses, []
        self.spans = []
        figures: dict[str, Any] = {}
        for generation in (0, 1, 2):
            times = [t for g, t, _ in pauses if g == generation]
            cpu = [c for g, _, c in pauses if g == generation]
            figures[f"gen{generation}"] = {
                "count": len(times),
                "max_ms": round(max(times) * 1000, 1) if times else 0.0,
                "cpu_max_ms": round(max(cpu) * 1000, 1) if cpu else 0.0,
                "total_ms": round(sum(times) * 1000, 1),
            }
        return figures
