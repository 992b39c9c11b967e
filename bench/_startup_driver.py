"""Bench-only driver run by ``bench/startup.py`` in a fresh process: start the dashboard headless
on a config, and write (as JSON to RESULT_FILE) the wall time at which the table first had
ROWS rows on screen, and the peak RSS and the CPU time spent then.

    python bench/_startup_driver.py CONFIG RESULT_FILE ROWS [thread|loop]

``thread`` (the default) runs the controller on its own thread's loop as ``run_dashboard`` does.
"""

from __future__ import annotations

import time

IMPORTED_AT = time.time()  # before any other import: the interpreter is up, nothing loaded

import asyncio  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def peak_rss_of_this_program_mb() -> float:
    """The peak resident size since this program was exec'd (VmHWM, in MB).

    Not ``ru_maxrss``: Linux carries it over ``execve`` from the forked parent, so it reported
    the bench's own peak (filling 5,000 workers: 434 MB) whatever this process used."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(config_path: str, result_file: str, rows: int, engine_kind: str = "thread") -> int:
    from cmltui.config import load_config
    from cmltui.memory import limit_malloc_arenas, start_trimming
    from cmltui.services.engine_service import EngineService
    from cmltui.services.engine_thread import EngineThread
    from cmltui.ui.app import CmlTuiApp
    from cmltui.wiring import build_runtime

    limit_malloc_arenas()  # as run_dashboard does, before any thread starts
    start_trimming(threading.Event())
    config, _, _ = load_config(Path(config_path))
    runtime = build_runtime(config)
    engine = EngineThread().start() if engine_kind == "thread" else None
    service = EngineService(engine, runtime.controller) if engine else runtime.controller
    app = CmlTuiApp(
        service,
        config=config,
        aws_profile_label="bench",
        read_only=runtime.controller.read_only,
        log_path=Path(tempfile.mkdtemp(prefix="cmltui-bench-log-")) / "cmltui.log",
        notices=runtime.notices,
    )
    result: dict[str, float | int | str] = {"imported_at": IMPORTED_AT}

    async def watch(pilot: object) -> None:
        while True:
            try:
                shown = app.main_screen.table.row_count
            except Exception:  # not mounted yet
                shown = 0
            if shown >= rows:
                break
            await asyncio.sleep(0.002)
        result["rows_at"] = time.time()
        painted: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        app.call_after_refresh(lambda: painted.done() or painted.set_result(time.time()))
        while not painted.done():
            # Headless, a screen update may wait for the next timer: force one, as a
            # terminal's refresh timer would (Pilot.pause ends with screen._on_timer_update).
            await pilot.pause()  # type: ignore[attr-defined]
        result["painted_at"] = painted.result()
        result["rows"] = app.main_screen.table.row_count
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["peak_rss_mb"] = peak_rss_of_this_program_mb()
        # CPU seconds of all its threads: steadier than the wall time on a shared machine.
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
        # Written now: the result must not depend on how quickly the app then shuts down.
        Path(result_file).write_text(json.dumps(result), encoding="utf-8")
        app.exit()

    try:
        asyncio.run(app.run_async(headless=True, size=(200, 50), auto_pilot=watch))
    finally:
        if engine is not None:
            engine.run_blocking(runtime.aclose(), timeout=30)
            engine.stop()
        else:
            asyncio.run(runtime.aclose())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5]))
