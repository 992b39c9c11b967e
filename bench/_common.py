"""Shared helpers of the bench scripts: a demo fleet at scale, figures, tables, JSON."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def current_rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(round(fraction * (len(ordered) - 1)), len(ordered) - 1)
    return ordered[index]


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for number, row in enumerate(cells):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if number == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def print_targets(targets: dict[str, Any]) -> None:
    """The target checks, one per line, after a script's table."""
    for key, value in targets.items():
        print(f"  {key}: {value}")


def emit(payload: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(payload, default=str))


#: The regions the benchmarks spread the fleet over (``--regions N`` takes the first N).
BENCH_REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-2",
    "eu-central-1",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
)

#: cmltui's default refresh intervals (config.RefreshConfig), used unless a script needs others.
DEFAULT_REFRESH_SECONDS = {
    "ec2_seconds": 15.0,
    "cloudwatch_seconds": 60.0,
    "cml_seconds": 30.0,
    "cml_license_seconds": 300.0,
}


def regions_for(count: int) -> list[str]:
    if not 1 <= count <= len(BENCH_REGIONS):
        raise SystemExit(f"--regions must be within 1..{len(BENCH_REGIONS)}")
    return list(BENCH_REGIONS[:count])


def use_demo_credentials() -> None:
    """moto signs nothing, but botocore needs some keys to sign with."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "cmltui-bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "cmltui-bench")
    os.environ.pop("AWS_PROFILE", None)


class StoreWriteTimer:
    """Times the controller's store writes: the whole ``save_many_async`` and the part of it
    spent on the event loop (staging + serialising), which is what can stall the UI."""

    def __init__(self, store: Any) -> None:
        self.total_seconds: list[float] = []
        self.on_loop_seconds: list[float] = []
        self._store = store
        save = store.save_many_async
        storage = store.storage
        serialize = storage.serialize

        async def timed_save(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await save(*args, **kwargs)
            finally:
                self.total_seconds.append(time.perf_counter() - started)

        def timed_serialize(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return serialize(*args, **kwargs)
            finally:
                self.on_loop_seconds.append(time.perf_counter() - started)

        store.save_many_async = timed_save
        storage.serialize = timed_serialize

    def take(self) -> dict[str, Any]:
        """Writes since the last take: count, max and median milliseconds."""
        total, on_loop = self.total_seconds[:], self.on_loop_seconds[:]
        self.total_seconds.clear()
        self.on_loop_seconds.clear()
        return {
            "writes": len(total),
            "write_ms_max": round(max(total) * 1000, 1) if total else 0.0,
            "write_ms_median": round(median(total) * 1000, 1) if total else 0.0,
            "serialize_ms_max": round(max(on_loop) * 1000, 1) if on_loop else 0.0,
        }


def dashboard_memory_habits() -> None:
    """What ``run_dashboard`` does to memory before its threads start (cmltui.memory), so the
    figures are those of the dashboard."""
    import threading

    from cmltui.memory import limit_malloc_arenas, start_trimming

    limit_malloc_arenas()
    start_trimming(threading.Event())


def report_hangs_after(seconds: float) -> None:
    """If the bench is still running after ``seconds``, print every asyncio task's stack and
    every thread's to stderr, then exit 3: a bench that waits forever for the servers says
    where it waits instead of dying silently under a caller's timeout. Call inside the loop."""
    import asyncio
    import faulthandler

    loop = asyncio.get_running_loop()

    def report() -> None:
        # The real stderr: a running Textual app has replaced ``sys.stderr``.
        err = sys.__stderr__ or sys.stderr
        print(f"bench still running after {seconds:.0f} s; its tasks:", file=err)
        for task in asyncio.all_tasks(loop):
            if not task.get_name().startswith("message pump"):
                task.print_stack(file=err)
        err.flush()
        faulthandler.dump_traceback(file=err, all_threads=True)
        err.flush()
        os._exit(3)

    loop.call_later(seconds, report)
