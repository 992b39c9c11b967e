"""Prototype of the other way to take the engine off the UI's loop: the controller in a child
process, its change sets pickled over a pipe. Measures what ``loop_lag.py`` measures, on the
same servers, so the two ways can be compared.

    python bench/engine_process_probe.py --workers 1000 [--regions 4] [--seconds 30] [--json]

Three processes: the demo servers (as every bench), the engine (a ``FleetController`` built
from the same config, refreshing back to back when told) and this one, which runs the app
headless on a ``PipeService``: a reader thread receives each change set (unpickled there) and
hands it to the UI's loop with ``call_soon_threadsafe``. A prototype: no actions, no labs, and
the detail pane's event trail is empty (a real one would ask the engine over the pipe).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import pickle
import resource
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DEFAULT_REFRESH_SECONDS,
    emit,
    median,
    peak_rss_mb,
    print_table,
    regions_for,
    use_demo_credentials,
)
from _probes import (
    KeyDriver,
    LagSampler,
    every_row_changed,
    key_figures,
    lag_figures,
    time_change_set,
    wait_for_rows,
)
from _servers import FleetProcess

APP_SIZE = (200, 50)


# ---------------------------------------------------------------------------- the engine process
def _engine_main(config_path: str, commands: Any, events: Any) -> None:
    """The child: a controller whose change sets go to ``events``; obeys ``commands``."""
    import asyncio

    from cmltui.config import load_config
    from cmltui.wiring import build_runtime

    async def serve() -> None:
        config, _, _ = load_config(Path(config_path))
        runtime = build_runtime(config)
        controller = runtime.controller
        controller.subscribe(lambda change_set: events.send(("change_set", change_set)))
        await controller.load()
        events.send(("loaded", None))
        loop = asyncio.get_running_loop()
        while True:
            command, argument = await loop.run_in_executor(None, commands.recv)
            if command == "refresh_once":
                summary = await controller.refresh_once()
                events.send(("refreshed", summary.seconds))
            elif command == "back_to_back":
                cycles = []
                deadline = time.perf_counter() + argument
                while time.perf_counter() < deadline:
                    cycles.append((await controller.refresh_once()).seconds)
                events.send(("cycles", cycles))
            elif command == "stop":
                await runtime.aclose()
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
                events.send(("stopped", rss))
                return

    asyncio.run(serve())


class PipeService:
    """What the app asks of a service, over the engine process's pipe (prototype)."""

    read_only = False

    def __init__(self, events: Any) -> None:
        self._events = events
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[Any] = []
        self._rows: dict[str, Any] = {}
        self._last: Any = None
        self.replies: asyncio.Queue[tuple[str, Any]] | None = None
        self.unpickle_seconds: list[tuple[int, float]] = []

    def begin(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.replies = asyncio.Queue()
        threading.Thread(target=self._read, name="engine-pipe", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                raw = self._events.recv_bytes()
            except (EOFError, OSError):
                return
            started = time.perf_counter()
            kind, payload = pickle.loads(raw)  # in this thread, but under this process's GIL
            if kind == "change_set":
                self.unpickle_seconds.append((len(payload.changed), time.perf_counter() - started))
                self._loop.call_soon_threadsafe(self._deliver, payload)
            else:
                self._loop.call_soon_threadsafe(self.replies.put_nowait, (kind, payload))

    def _deliver(self, change_set: Any) -> None:
        if change_set.is_full:
            self._rows = {s.id: s for s in change_set.changed}
        else:
            for worker_id in change_set.removed_ids:
                self._rows.pop(worker_id, None)
            for snapshot in change_set.changed:
                self._rows[snapshot.id] = snapshot
        self._last = change_set
        for listener in self._listeners:
            listener(change_set)

    def subscribe(self, listener: Any) -> None:
        self._listeners.append(listener)

    def current(self) -> Any:
        from cmltui.services.snapshot import ChangeSet

        base = self._last or ChangeSet()
        return replace(base, changed=tuple(self._rows.values()), removed_ids=(), is_full=True)

    async def start(self, *, hold_loops: bool = False) -> None:
        return None

    def release_loops(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def request_refresh(self) -> None:
        return None

    def events_for(self, worker_id: str | None, limit: int = 200) -> list[Any]:
        return []

    async def reply(self, kind: str) -> Any:
        assert self.replies is not None
        while True:
            got, payload = await self.replies.get()
            if got == kind:
                return payload


async def measure(info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from cmltui.config import load_config
    from cmltui.ui.app import CmlTuiApp

    config, _, _ = load_config(Path(info["config_path"]))
    context = multiprocessing.get_context("spawn")
    commands_in, commands_out = context.Pipe(duplex=False)
    events_in, events_out = context.Pipe(duplex=False)
    engine = context.Process(
        target=_engine_main, args=(info["config_path"], commands_in, events_out), daemon=True
    )
    service = PipeService(events_in)
    app = CmlTuiApp(
        service,  # type: ignore[arg-type]
        config=config,
        aws_profile_label="bench",
        read_only=False,
        log_path=Path(tempfile.mkdtemp(prefix="cmltui-bench-log-")) / "cmltui.log",
    )
    sampler = LagSampler()
    keys = KeyDriver(app)
    result: dict[str, Any] = {}
    async with app.run_test(headless=True, size=APP_SIZE) as pilot:
        service.begin()
        engine.start()
        await service.reply("loaded")
        sampler.start()
        commands_out.send(("refresh_once", None))
        first = await service.reply("refreshed")
        await wait_for_rows(app, args.workers)
        await pilot.pause()
        result["import_cycle"] = {"seconds": round(first, 3), **lag_figures(sampler.take())}
        await asyncio.sleep(args.idle_seconds)
        result["idle"] = lag_figures(sampler.take())
        keys.start()
        commands_out.send(("back_to_back", args.seconds))
        cycles = await service.reply("cycles")
        pressed = await keys.stop()
        await pilot.pause()
        result["back_to_back"] = {
            "seconds": args.seconds,
            "cycles": len(cycles),
            "cycle_seconds_median": round(median(cycles), 3),
            **lag_figures(sampler.take()),
        }
        result["keys_while_refreshing"] = key_figures(pressed)
        applied = []
        for round_number in range(args.change_sets):
            change_set = every_row_changed(service.current(), round_number)
            applied.append(await time_change_set(app, change_set))
            await pilot.pause()
        result["change_set_all_rows"] = {
            "rows": args.workers,
            "applied_and_painted_ms_median": round(median(applied) * 1000, 1),
            "applied_and_painted_ms_max": round(max(applied) * 1000, 1),
        }
        big = [seconds for rows, seconds in service.unpickle_seconds if rows >= args.workers]
        result["unpickle_all_rows_ms_max"] = round(max(big) * 1000, 1) if big else None
        full = pickle.dumps(service.current())
        result["all_rows_pickle_bytes"] = len(full)
        result["rows_shown"] = app.main_screen.table.row_count
        await sampler.stop()
        commands_out.send(("stop", None))
        engine_rss = await service.reply("stopped")
    engine.join(30)
    ui_rss = peak_rss_mb()
    result["peak_rss_mb"] = {
        "ui": round(ui_rss, 1),
        "engine": round(engine_rss, 1),
        "both": round(ui_rss + engine_rss, 1),
    }
    return result


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
    return {
        "bench": "engine_process_probe",
        "workers": args.workers,
        "regions": len(regions),
        **measured,
    }


def print_report(result: dict[str, Any]) -> None:
    print(f"engine in a child process: {result['workers']} workers, {result['regions']} regions")
    rows = [
        [label, part["samples"], part["p50_ms"], part["p99_ms"], part["max_ms"]]
        for label, part in (
            ("import cycle", result["import_cycle"]),
            ("engine idle", result["idle"]),
            ("back-to-back refreshes", result["back_to_back"]),
        )
    ]
    print_table(rows, ["", "samples", "lag p50 ms", "lag p99 ms", "lag max ms"])
    keys = result["keys_while_refreshing"]
    change = result["change_set_all_rows"]
    print(
        f"\n{result['back_to_back']['cycles']} refreshes; keys: p99 {keys['p99_ms']} ms, max "
        f"{keys['max_ms']} ms; all-rows change set max {change['applied_and_painted_ms_max']} "
        f"ms; all-rows change set unpickled in {result['unpickle_all_rows_ms_max']} ms "
        f"({result['all_rows_pickle_bytes'] / 1e6:.1f} MB); peak RSS {result['peak_rss_mb']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--change-sets", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="lag with no refresh")
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
