"""RSS and data-file size over time while the controller's own loops refresh a big fleet every
few seconds, optionally with faults injected at random: do history rings and the event table
stay bounded, and do the loops survive?

    python bench/soak.py --workers 1000 --minutes 3 [--interval 2] [--faults]
        [--fill-history] [--json]

``--interval`` is the EC2 and CML loop interval (CloudWatch and licence: 5 s, the minimum).
``--fill-history`` fills every worker's telemetry rings to capacity after the first cycle, so the
memory of an hour of history is there from the start (what the 250 MB target is about).
The demo servers run in a child process; the figures are this process's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    StoreWriteTimer,
    current_rss_mb,
    dashboard_memory_habits,
    emit,
    peak_rss_mb,
    print_table,
    print_targets,
    regions_for,
    use_demo_credentials,
)
from _servers import FleetProcess

from cmltui.config import load_config
from cmltui.wiring import build_runtime, setup_logging

LOOP_NAMES = ("ec2", "cloudwatch", "cml")
_ERROR_LINE = re.compile(r" (ERROR|CRITICAL) |Traceback \(most recent call last\)")


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return 60.0 * sum((x - mean_x) * (y - mean_y) for x, y in points) / var


class FaultMonkey:
    """Arms a random fault every few seconds (moto or one fake CML worker) and clears all of
    them now and then; counts what it did."""

    def __init__(self, fleet: FleetProcess, seed: int) -> None:
        self._fleet = fleet
        self._rng = random.Random(seed)
        self._keys = [w["instance_id"] for w in fleet.info["workers"]]
        self.armed: dict[str, int] = {}

    def _count(self, label: str) -> None:
        self.armed[label] = self.armed.get(label, 0) + 1

    def poke(self) -> None:
        rng = self._rng
        if rng.random() < 0.2:
            self._fleet.call("clear_faults")
            self._count("clear")
            return
        if rng.random() < 0.5:
            kind = rng.choice(["throttle", "server_error", "slow"])
            service = rng.choice(["ec2", "cloudwatch"])
            kwargs: dict[str, Any] = {"kind": kind, "service": service, "count": rng.randint(1, 6)}
            if kind == "slow":
                kwargs["seconds"] = rng.uniform(0.5, 4.0)
            self._fleet.call("moto_fault", **kwargs)
            self._count(f"moto {kind}")
            return
        knob = rng.choice(
            ["http_500", "delay_seconds", "connection", "not_ready_502", "malformed_json"]
        )
        value: Any = {"delay_seconds": rng.uniform(1.0, 5.0), "connection": "reset"}.get(knob, True)
        for key in rng.sample(self._keys, k=min(len(self._keys), rng.randint(1, 20))):
            self._fleet.call("cml_fault", key=key, **{knob: value})
        self._count(f"cml {knob}")


def ring_fill(controller: Any) -> tuple[int, int]:
    """(longest CPU history of any worker, its capacity)."""
    longest = max((len(s.cpu_history) for s in controller.current().changed), default=0)
    return longest, int(getattr(controller, "_history_capacity", 0))


def fill_history(controller: Any) -> int:
    """Fill each worker's rings to capacity (bench only: an hour of history at once)."""
    rng = random.Random(1)
    capacity = int(controller._history_capacity)
    for snapshot in controller.current().changed:
        history = controller._runtime_for(snapshot.id).history
        for _ in range(capacity):
            history.add(rng.uniform(0, 100), rng.uniform(0, 100), rng.randint(0, 5))
    return capacity


async def measure(fleet: FleetProcess, args: argparse.Namespace) -> dict[str, Any]:
    info = fleet.info
    config, _, _ = load_config(Path(info["config_path"]))
    log_dir = Path(tempfile.mkdtemp(prefix="cmltui-bench-soak-log-"))
    log_path = setup_logging(log_dir, level=logging.INFO)
    runtime = build_runtime(config)
    controller = runtime.controller
    writes = StoreWriteTimer(runtime.store)
    data_file = Path(runtime.store.path)
    monkey = FaultMonkey(fleet, args.seed) if args.faults else None
    samples: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        first = await controller.refresh_once()  # import every worker before the loops start
        result["import_cycle_seconds"] = round(first.seconds, 2)
        if args.fill_history:
            result["history_filled_to"] = fill_history(controller)
        await controller.start()
        deadline = started + args.minutes * 60
        next_sample = next_fault = time.perf_counter()
        while time.perf_counter() < deadline:
            now = time.perf_counter()
            if now >= next_sample:
                longest, capacity = ring_fill(controller)
                samples.append(
                    {
                        "t": round(now - started, 1),
                        "rss_mb": round(current_rss_mb(), 1),
                        "store_mb": round(data_file.stat().st_size / 1e6, 2),
                        "ring": longest,
                        "ring_capacity": capacity,
                    }
                )
                next_sample += args.sample_seconds
            if monkey is not None and now >= next_fault:
                await asyncio.to_thread(monkey.poke)
                next_fault += args.fault_seconds
            await asyncio.sleep(0.5)
        if monkey is not None:
            fleet.call("clear_faults")
        alive = {
            task.get_name(): not task.done()
            for task in asyncio.all_tasks()
            if task.get_name() in LOOP_NAMES
        }
        result["loops_alive"] = {name: alive.get(name, False) for name in LOOP_NAMES}
        result["store"] = writes.take()
    finally:
        await runtime.aclose()
    log_text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    result["log_error_lines"] = sum(1 for line in log_text.splitlines() if _ERROR_LINE.search(line))
    result["log_lines"] = len(log_text.splitlines())
    result["log_path"] = str(log_path)
    result["samples"] = samples
    result["faults_armed"] = monkey.armed if monkey else {}
    warm = [s for s in samples if s["t"] >= args.warmup_seconds]
    result["after_warmup"] = {
        "from_seconds": args.warmup_seconds,
        "rss_mb_per_minute": round(slope_per_minute([(s["t"], s["rss_mb"]) for s in warm]), 2),
        "store_mb_per_minute": round(slope_per_minute([(s["t"], s["store_mb"]) for s in warm]), 3),
        "rss_mb_max": max((s["rss_mb"] for s in warm), default=float("nan")),
        "store_mb_max": max((s["store_mb"] for s in warm), default=float("nan")),
    }
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    regions = regions_for(args.regions)
    use_demo_credentials()
    fleet = FleetProcess(
        workers=args.workers,
        regions=regions,
        seed=args.seed,
        refresh_seconds={
            "ec2_seconds": args.interval,
            "cloudwatch_seconds": 5.0,
            "cml_seconds": args.interval,
            "cml_license_seconds": 5.0,
        },
    )
    fleet.start()
    try:
        measured = await measure(fleet, args)
    finally:
        fleet.stop()
    result = {
        "bench": "soak",
        "workers": args.workers,
        "regions": len(regions),
        "minutes": args.minutes,
        "interval_seconds": args.interval,
        "faults": args.faults,
        "fill_history": args.fill_history,
        **measured,
    }
    result["targets"] = {
        "loops_alive": all(result["loops_alive"].values()),
        "peak_rss_within_250mb": result["peak_rss_mb"] <= 250,
    }
    return result


def print_report(result: dict[str, Any]) -> None:
    print(
        f"soak: {result['workers']} workers, {result['minutes']} min, loops every "
        f"{result['interval_seconds']} s, faults {'on' if result['faults'] else 'off'}"
        f"{', history pre-filled' if result['fill_history'] else ''}"
    )
    rows = [
        [s["t"], s["rss_mb"], s["store_mb"], f"{s['ring']}/{s['ring_capacity']}"]
        for s in result["samples"]
    ]
    print_table(rows, ["t s", "RSS MB", "store MB", "history ring"])
    warm = result["after_warmup"]
    print(
        f"\nafter {warm['from_seconds']} s: RSS {warm['rss_mb_per_minute']} MB/min "
        f"(max {warm['rss_mb_max']}), store {warm['store_mb_per_minute']} MB/min "
        f"(max {warm['store_mb_max']}); peak RSS {result['peak_rss_mb']} MB"
    )
    print(f"store writes: {result['store']}")
    print(f"loops alive: {result['loops_alive']}; faults armed: {result['faults_armed']}")
    print(f"log: {result['log_error_lines']} ERROR/traceback lines of {result['log_lines']}")
    print_targets(result["targets"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=2.0, help="EC2 and CML loop seconds")
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=60.0)
    parser.add_argument("--faults", action="store_true", help="inject faults at random")
    parser.add_argument("--fault-seconds", type=float, default=5.0)
    parser.add_argument("--fill-history", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.interval < 1:
        parser.error("--interval must be >= 1 (the config's minimum)")
    dashboard_memory_habits()
    result = asyncio.run(run(args))
    if args.json:
        emit(result, True)
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
