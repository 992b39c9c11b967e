"""Event-loop lag of the dashboard while full refreshes of a big fleet run back to back, and the
time to apply and paint a change set in which every row changed.

    python bench/loop_lag.py --workers 1000 [--regions 4] [--seconds 30] [--json]

The app runs headless (Textual's ``run_test``) in this process on a real controller; the demo
servers run in a child process. A task sleeps 10 ms again and again and records how late it
wakes: that lateness is what a key press or a repaint waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DEFAULT_REFRESH_SECONDS,
    StoreWriteTimer,
    emit,
    median,
    peak_rss_mb,
    percentile,
    print_table,
    print_targets,
    regions_for,
    use_demo_credentials,
)
from _servers import FleetProcess

from cmltui.config import load_config
from cmltui.services.snapshot import ChangeSet, WorkerSnapshot
from cmltui.wiring import build_runtime

SAMPLE_SECONDS = 0.010
APP_SIZE = (200, 50)


class ManualService:
    """The controller, with ``start()`` reduced to loading the store: the bench drives the
    refreshes itself (back to back), so the controller's own timers must not add cycles."""

    def __init__(self, controller: Any) -> None:
        self._controller = controller

    def __getattr__(self, name: str) -> Any:
        return getattr(self._controller, name)

    async def start(self) -> None:
        await self._controller.load()


class LagSampler:
    """Sleeps ``SAMPLE_SECONDS`` in a loop and records how late each wake-up is (seconds)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(SAMPLE_SECONDS)
            self.lags.append(max(0.0, time.perf_counter() - before - SAMPLE_SECONDS))

    def take(self) -> list[float]:
        lags, self.lags = self.lags, []
        return lags

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


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
    """Post the change set as the controller would; seconds until the screen has been
    refreshed after the table applied it."""
    from cmltui.ui.app import FleetChanged

    loop = asyncio.get_running_loop()
    painted: asyncio.Future[float] = loop.create_future()
    started = time.perf_counter()
    app.post_message(FleetChanged(change_set))
    # InvokeLater queues behind FleetChanged and runs after the next screen refresh.
    app.call_after_refresh(lambda: painted.done() or painted.set_result(time.perf_counter()))
    finished = await asyncio.wait_for(painted, 30)
    table = app.main_screen.table
    wrong = [s.id for s in change_set.changed if table.snapshots.get(s.id) is not s]
    if wrong:
        raise RuntimeError(f"{len(wrong)} rows did not get the change set")
    return finished - started


async def wait_for_rows(app: Any, count: int, timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while app.main_screen.table.row_count < count:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the table never reached {count} rows")
        await asyncio.sleep(0.05)


async def measure(info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from cmltui.ui.app import CmlTuiApp

    config, _, _ = load_config(Path(info["config_path"]))
    runtime = build_runtime(config)
    controller = runtime.controller
    writes = StoreWriteTimer(runtime.store)
    log_dir = Path(tempfile.mkdtemp(prefix="cmltui-bench-log-"))
    app = CmlTuiApp(
        ManualService(controller),
        config=config,
        aws_profile_label="bench",
        read_only=False,
        log_path=log_dir / "cmltui.log",
    )
    sampler = LagSampler()
    result: dict[str, Any] = {}
    try:
        async with app.run_test(headless=True, size=APP_SIZE) as pilot:
            await pilot.pause()
            sampler.start()
            # First cycle: every worker is imported into an empty store (reported apart).
            first = await controller.refresh_once()
            await wait_for_rows(app, args.workers)
            await pilot.pause()
            result["import_cycle"] = {
                "seconds": round(first.seconds, 3),
                **lag_figures(sampler.take()),
            }
            writes.take()
            cycles: list[float] = []
            deadline = time.perf_counter() + args.seconds
            while time.perf_counter() < deadline:
                summary = await controller.refresh_once()
                cycles.append(summary.seconds)
            await pilot.pause()
            result["back_to_back"] = {
                "seconds": args.seconds,
                "cycles": len(cycles),
                "cycle_seconds_median": round(median(cycles), 3),
                **lag_figures(sampler.take()),
                "store": writes.take(),
            }
            applied: list[float] = []
            for round_number in range(args.change_sets):
                change_set = every_row_changed(controller.current(), round_number)
                applied.append(await time_change_set(app, change_set))
                await pilot.pause()
            during = sampler.take()
            result["change_set_all_rows"] = {
                "rows": args.workers,
                "rounds": len(applied),
                "applied_and_painted_ms_median": round(median(applied) * 1000, 1),
                "applied_and_painted_ms_max": round(max(applied) * 1000, 1),
                "lag_max_ms": lag_figures(during)["max_ms"],
            }
            result["rows_shown"] = app.main_screen.table.row_count
            result["unexpected_errors"] = len(app.unexpected_errors)
            await sampler.stop()
    finally:
        await sampler.stop()
        await runtime.aclose()
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def check_targets(result: dict[str, Any]) -> dict[str, Any]:
    lag = result["back_to_back"]
    change = result["change_set_all_rows"]
    return {
        "lag_p99_within_50ms": lag["p99_ms"] <= 50,
        "lag_max_within_150ms": lag["max_ms"] <= 150,
        "change_set_within_150ms": change["applied_and_painted_ms_max"] <= 150,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    regions = regions_for(args.regions)
    use_demo_credentials()
    fleet = FleetProcess(
        workers=args.workers,
        regions=regions,
        seed=args.seed,
        refresh_seconds=dict(DEFAULT_REFRESH_SECONDS),
    )
    info = fleet.start()
    try:
        measured = await measure(info, args)
    finally:
        fleet.stop()
    result = {"bench": "loop_lag", "workers": args.workers, "regions": len(regions), **measured}
    result["targets"] = check_targets(result)
    return result


def print_report(result: dict[str, Any]) -> None:
    print(f"loop lag: {result['workers']} workers in {result['regions']} regions, headless app")
    rows = []
    for label, key in (
        ("import cycle", "import_cycle"),
        ("back-to-back refreshes", "back_to_back"),
    ):
        part = result[key]
        rows.append([label, part["samples"], part["p50_ms"], part["p99_ms"], part["max_ms"]])
    print_table(rows, ["", "samples", "lag p50 ms", "lag p99 ms", "lag max ms"])
    part = result["back_to_back"]
    print(
        f"\n{part['cycles']} full refreshes in {part['seconds']} s "
        f"(median {part['cycle_seconds_median']} s); store: {part['store']}"
    )
    change = result["change_set_all_rows"]
    print(
        f"change set with all {change['rows']} rows changed: applied and painted in "
        f"{change['applied_and_painted_ms_median']} ms median, "
        f"{change['applied_and_painted_ms_max']} ms max ({change['rounds']} rounds); "
        f"loop lag max meanwhile {change['lag_max_ms']} ms"
    )
    print(f"peak RSS {result['peak_rss_mb']} MB; rows shown {result['rows_shown']}")
    print_targets(result["targets"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--change-sets", type=int, default=5, help="rounds of the all-rows test")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        emit(result, True)
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
