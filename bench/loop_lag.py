"""Event-loop lag of the dashboard while full refreshes of a big fleet run back to back, key
presses to their painted effect meanwhile, and the time to apply and paint a change set in which
every row changed.

    python bench/loop_lag.py --workers 1000 [--regions 4] [--seconds 30] [--engine thread]
        [--json]

The app runs headless (Textual's ``run_test``) in this process on a real controller; the demo
servers run in a child process. ``--engine thread`` (the default, as ``run_dashboard`` does)
runs the controller on its own thread's loop behind an ``EngineService``; ``--engine loop``
runs it on the UI's loop (how cmltui was built before). A task sleeps 10 ms again and again on
the UI's loop and records how late it wakes: that lateness is what a key press or a repaint
waits for. Another does the same on the engine's loop (what a short query waits for).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DEFAULT_REFRESH_SECONDS,
    StoreWriteTimer,
    dashboard_memory_habits,
    emit,
    median,
    peak_rss_mb,
    print_table,
    print_targets,
    regions_for,
    report_hangs_after,
    use_demo_credentials,
)
from _probes import (
    GcPauses,
    KeyDriver,
    LagSampler,
    every_row_changed,
    key_figures,
    lag_figures,
    time_change_set,
    wait_for_rows,
)
from _servers import FleetProcess

from cmltui.config import load_config
from cmltui.wiring import build_runtime

APP_SIZE = (200, 50)


class ManualService:
    """The service, with ``start()`` reduced to loading the store: the bench drives the
    refreshes itself (back to back), so the controller's own timers must not add cycles."""

    def __init__(self, service: Any, load: Any) -> None:
        self._service = service
        self._load = load

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    async def start(self, *, hold_loops: bool = False) -> None:
        await self._load()

    def release_loops(self) -> None:
        return None


class Engine:
    """Where the controller runs: the UI's loop, or an ``EngineThread``."""

    def __init__(self, kind: str, controller: Any) -> None:
        self.kind = kind
        self.controller = controller
        self.thread: Any = None
        self.sampler = LagSampler()
        if kind == "thread":
            from cmltui.services.engine_service import EngineService
            from cmltui.services.engine_thread import EngineThread

            self.thread = EngineThread().start()
            self.service: Any = EngineService(self.thread, controller)
            self.thread.call_soon(self.sampler.start)
        else:
            self.service = controller

    async def run(self, coro: Any) -> Any:
        return await (self.thread.run(coro) if self.thread else coro)

    def engine_lag(self) -> dict[str, Any] | None:
        return lag_figures(self.sampler.take()) if self.thread else None

    async def close(self, runtime: Any) -> None:
        if self.thread is None:
            await runtime.aclose()
            return
        self.thread.call_soon(self.sampler.cancel)
        await self.thread.run(runtime.aclose())
        await self.thread.astop()


async def measure(info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from cmltui.ui.app import CmlTuiApp

    config, _, _ = load_config(Path(info["config_path"]))
    # moto answers every region from one process: at thousands of instances its answer to
    # eight DescribeInstances at once takes longer than the default read timeout (the servers'
    # limit, not cmltui's; the import cycle then shows eight region errors and no rows).
    read_timeout = args.aws_read_timeout or (20.0 if args.workers < 2000 else 180.0)
    config = config.model_copy(
        update={"aws": config.aws.model_copy(update={"read_timeout_seconds": read_timeout})}
    )
    runtime = build_runtime(config)
    controller = runtime.controller
    writes = StoreWriteTimer(runtime.store)
    engine = Engine(args.engine, controller)
    log_dir = Path(tempfile.mkdtemp(prefix="cmltui-bench-log-"))
    app = CmlTuiApp(
        ManualService(engine.service, lambda: engine.run(controller.load())),
        config=config,
        aws_profile_label="bench",
        read_only=False,
        log_path=log_dir / "cmltui.log",
    )
    sampler = LagSampler()
    keys = KeyDriver(app)
    result: dict[str, Any] = {}
    gc_pauses = GcPauses().__enter__()
    try:
        async with app.run_test(headless=True, size=APP_SIZE) as pilot:
            await pilot.pause()
            sampler.start()
            # First cycle: every worker is imported into an empty store (reported apart).
            first = await engine.run(controller.refresh_once())
            await wait_for_rows(app, args.workers)
            await pilot.pause()
            if args.gc_threshold:  # an experiment: the collector tuned otherwise than the app
                gc.set_threshold(*(int(part) for part in args.gc_threshold.split(",")))
            if args.refreeze:  # an experiment: the imported fleet out of later collections
                gc.freeze()
            result["import_cycle"] = {
                "seconds": round(first.seconds, 3),
                **lag_figures(sampler.take()),
            }
            # The same loop with the engine idle: what the machine's load alone costs.
            await asyncio.sleep(args.idle_seconds)
            result["idle"] = lag_figures(sampler.take())
            idle_keys = KeyDriver(app, seed=2)
            idle_keys.start()  # the UI's own cost of a key, nothing else running
            await asyncio.sleep(args.idle_seconds)
            result["keys_idle"] = key_figures(await idle_keys.stop())
            result["keys_idle_lag"] = lag_figures(sampler.take())
            engine.engine_lag()
            writes.take()
            gc_pauses.take()
            cycles: list[float] = []
            keys.start()
            deadline = time.perf_counter() + args.seconds
            while time.perf_counter() < deadline:
                summary = await engine.run(controller.refresh_once())
                cycles.append(summary.seconds)
            pressed = await keys.stop()
            await pilot.pause()
            late_with_gc = gc_pauses.late_share(sampler.take_late())
            worst = sampler.worst_late(gc_pauses.spans)
            result["back_to_back"] = {
                "late_vs_collections": late_with_gc,
                "worst_late_samples": worst,
                "seconds": args.seconds,
                "cycles": len(cycles),
                "cycle_seconds_median": round(median(cycles), 3),
                **lag_figures(sampler.take()),
                "store": writes.take(),
            }
            result["keys_while_refreshing"] = key_figures(pressed)
            result["gc_pauses_while_refreshing"] = gc_pauses.take()
            result["engine_loop_lag"] = engine.engine_lag()
            applied: list[float] = []
            for round_number in range(args.change_sets):
                change_set = every_row_changed(engine.service.current(), round_number)
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
        gc_pauses.__exit__()
        await sampler.stop()
        await keys.stop()
        await engine.close(runtime)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def check_targets(result: dict[str, Any]) -> dict[str, Any]:
    lag = result["back_to_back"]
    change = result["change_set_all_rows"]
    keys = result["keys_while_refreshing"]
    big = result["workers"] >= 5000
    return {
        f"lag_p99_within_{30 if big else 20}ms": lag["p99_ms"] <= (30 if big else 20),
        f"lag_max_within_{100 if big else 50}ms": lag["max_ms"] <= (100 if big else 50),
        "change_set_within_100ms": change["applied_and_painted_ms_max"] <= 100,
        "key_p99_within_50ms": keys["p99_ms"] <= 50,
        f"peak_rss_within_{600 if big else 250}mb": result["peak_rss_mb"] <= (600 if big else 250),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.give_up_after:
        report_hangs_after(args.give_up_after)
    regions = regions_for(args.regions)
    use_demo_credentials()
    fleet = FleetProcess(
        workers=args.workers,
        regions=regions,
        seed=args.seed,
        refresh_seconds=dict(DEFAULT_REFRESH_SECONDS),
    )
    started = time.perf_counter()
    info = fleet.start()
    servers_ready = time.perf_counter() - started
    try:
        measured = await measure(info, args)
        servers_cpu = fleet.cpu_seconds()
    finally:
        fleet.stop()
    result = {
        "bench": "loop_lag",
        "engine": args.engine,
        "switch_interval": sys.getswitchinterval(),
        "workers": args.workers,
        "regions": len(regions),
        "servers_ready_seconds": round(servers_ready, 1),
        "servers_cpu_seconds": round(servers_cpu, 1),
        **measured,
    }
    result["targets"] = check_targets(result)
    return result


def print_report(result: dict[str, Any]) -> None:
    print(
        f"loop lag: {result['workers']} workers in {result['regions']} regions, headless app, "
        f"engine {'on its own thread' if result['engine'] == 'thread' else 'on the UI loop'}"
    )
    rows = []
    for label, key in (
        ("import cycle", "import_cycle"),
        ("engine idle", "idle"),
        ("engine idle, keys pressed", "keys_idle_lag"),
        ("back-to-back refreshes", "back_to_back"),
    ):
        part = result[key]
        rows.append([label, part["samples"], part["p50_ms"], part["p99_ms"], part["max_ms"]])
    engine = result.get("engine_loop_lag")
    if engine:
        rows.append(
            ["(engine loop, refreshing)", engine["samples"], engine["p50_ms"], engine["p99_ms"],
             engine["max_ms"]]
        )  # fmt: skip
    print_table(rows, ["", "samples", "lag p50 ms", "lag p99 ms", "lag max ms"])
    part = result["back_to_back"]
    print(
        f"\n{part['cycles']} full refreshes in {part['seconds']} s "
        f"(median {part['cycle_seconds_median']} s); store: {part['store']}"
    )
    keys = result["keys_while_refreshing"]
    print(
        f"key to painted effect while refreshing: {keys['presses']} presses, median "
        f"{keys['median_ms']} ms, p99 {keys['p99_ms']} ms, max {keys['max_ms']} ms"
    )
    idle_keys = result["keys_idle"]
    print(
        f"key to painted effect, engine idle: {idle_keys['presses']} presses, median "
        f"{idle_keys['median_ms']} ms, p99 {idle_keys['p99_ms']} ms"
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
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="lag with no refresh")
    parser.add_argument("--engine", choices=("thread", "loop"), default="thread")
    parser.add_argument(
        "--switch-interval", type=float, default=None, help="sys.setswitchinterval (seconds)"
    )
    parser.add_argument(
        "--gc-threshold", help="A,B,C: gc.set_threshold after the import (default: the app's)"
    )
    parser.add_argument(
        "--refreeze", action="store_true", help="gc.freeze() again after the import cycle"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--aws-read-timeout",
        type=float,
        default=None,
        help="AWS read timeout (s); default 20, or 180 from 2,000 workers (moto's one process)",
    )
    parser.add_argument(
        "--give-up-after", type=float, help="print the stacks and exit 3 after this many seconds"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    dashboard_memory_habits()
    result = asyncio.run(run(args))
    if args.json:
        emit(result, True)
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
