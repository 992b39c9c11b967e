"""Opening the labs screen on a worker with many labs: from CML's answers to the painted table.

    python bench/labs_screen.py [--labs 50] [--running 10] [--runs 5] [--json]

The demo servers run in a child process with one worker, given LABS labs in all (RUNNING of
them started, owners varied). The dashboard runs headless in this process on a real controller;
each run presses ``L`` on the worker and times, from the moment ``labs_with_details`` returned
(the answers: 1 + labs + started labs requests), until the screen has been refreshed with every
lab in the table. The key-to-paint time (network included) and the requests of one poll are
reported too, and the fleet's steady CML cycle is counted with the screen closed, before and
after, to show that a closed labs screen costs nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, median, print_table, print_targets, use_demo_credentials
from _servers import FleetProcess

from cmltui.cml.client import CmlApiClient
from cmltui.config import load_config
from cmltui.wiring import build_runtime

APP_SIZE = (120, 35)
TARGET_MS = 300.0


class AnswerClock:
    """Wraps ``CmlApiClient.labs_with_details`` to note when each answer came back."""

    def __init__(self) -> None:
        self.answered_at: float | None = None
        original = CmlApiClient.labs_with_details
        clock = self

        async def timed(client: CmlApiClient) -> Any:
            labs = await original(client)
            clock.answered_at = time.perf_counter()
            return labs

        CmlApiClient.labs_with_details = timed  # type: ignore[method-assign]


async def open_once(app: Any, pilot: Any, labs: int, answers: AnswerClock) -> dict[str, float]:
    from cmltui.ui.screens.labs import LabsScreen

    answers.answered_at = None
    pressed = time.perf_counter()
    await pilot.press("L")
    screen = app.screen
    if not isinstance(screen, LabsScreen):
        raise RuntimeError("L did not open the labs screen")
    deadline = time.perf_counter() + 60
    while screen.table.row_count < labs:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the labs table never reached {labs} rows")
        await asyncio.sleep(0.001)
    painted: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: painted.done() or painted.set_result(time.perf_counter()))
    while not painted.done():
        # Headless, a repaint may wait for the next timer: force one, as a terminal would.
        await pilot.pause()
    if answers.answered_at is None:
        raise RuntimeError("the table filled before any answer")
    figures = {
        "answers_to_paint_ms": (painted.result() - answers.answered_at) * 1000,
        "key_to_paint_ms": (painted.result() - pressed) * 1000,
    }
    await pilot.press("escape")
    await pilot.pause()
    return figures


class BenchService:
    """The controller without its timers (the bench drives the cycles it counts), and left
    open when the app quits, so that the fleet's cycle can be counted after the screen."""

    def __init__(self, controller: Any) -> None:
        self._controller = controller

    def __getattr__(self, name: str) -> Any:
        return getattr(self._controller, name)

    async def start(self, *, hold_loops: bool = False) -> None:
        await self._controller.load()

    def release_loops(self) -> None:
        return None

    async def stop(self) -> None:
        pass


async def steady_cml_cycle(controller: Any, fleet: FleetProcess) -> int:
    fleet.reset_counts()
    await controller.refresh_cml()
    return fleet.counts()["cml_requests"]


async def measure(info: dict[str, Any], fleet: FleetProcess, args: argparse.Namespace) -> dict:
    from cmltui.ui.app import CmlTuiApp

    config, _, _ = load_config(Path(info["config_path"]))
    runtime = build_runtime(config)
    controller = runtime.controller
    answers = AnswerClock()
    try:
        await controller.refresh_once()
        await controller.refresh_once()
        worker_id = controller.find(info["workers"][0]["name"]).id
        before = await steady_cml_cycle(controller, fleet)
        app = CmlTuiApp(
            BenchService(controller),
            config=config,
            aws_profile_label="bench",
            read_only=False,
            log_path=Path(tempfile.mkdtemp(prefix="cmltui-bench-log-")) / "cmltui.log",
        )
        runs: list[dict[str, float]] = []
        async with app.run_test(headless=True, size=APP_SIZE) as pilot:
            await pilot.pause()
            for _ in range(args.runs):
                runs.append(await open_once(app, pilot, args.labs, answers))
            unexpected = len(app.unexpected_errors)
        open_after = controller.labs().open_sessions()
        after = await steady_cml_cycle(controller, fleet)
        fleet.reset_counts()
        update = await controller.labs().session(worker_id).refresh()
        poll = fleet.counts()["cml_requests"]
    finally:
        await runtime.aclose()
    return {
        "runs": [{k: round(v, 1) for k, v in run.items()} for run in runs],
        "labs_shown": update.total,
        "labs_started": update.started,
        "poll_requests": poll,
        "sessions_open_after_close": len(open_after),
        "steady_cycle_cml_requests_before": before,
        "steady_cycle_cml_requests_after": after,
        "unexpected_errors": unexpected,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    use_demo_credentials()
    fleet = FleetProcess(workers=1, regions=["us-east-1"], seed=args.seed)
    info = fleet.start()
    try:
        existing = 6  # the demo's first worker: 3 seeded labs and 3 more
        fleet.call(
            "add_labs",
            key=info["workers"][0]["instance_id"],
            count=args.labs - existing,
            running=max(0, args.running - 3),
        )
        measured = await measure(info, fleet, args)
    finally:
        fleet.stop()
    paint = [r["answers_to_paint_ms"] for r in measured["runs"]]
    keys = [r["key_to_paint_ms"] for r in measured["runs"]]
    result = {
        "bench": "labs_screen",
        "labs": args.labs,
        **measured,
        "answers_to_paint_ms_median": round(median(paint), 1),
        "answers_to_paint_ms_min": min(paint),
        "answers_to_paint_ms_max": max(paint),
        "key_to_paint_ms_median": round(median(keys), 1),
    }
    result["targets"] = {
        f"paint_within_{TARGET_MS:.0f}ms_of_the_answers": max(paint) <= TARGET_MS,
        "closed_screen_costs_no_request": measured["steady_cycle_cml_requests_before"]
        == measured["steady_cycle_cml_requests_after"]
        and measured["sessions_open_after_close"] == 0,
        "every_lab_shown": measured["labs_shown"] == args.labs,
    }
    return result


def print_report(result: dict[str, Any]) -> None:
    print(
        f"labs screen: one worker with {result['labs_shown']} labs "
        f"({result['labs_started']} started), headless app at {APP_SIZE[0]}x{APP_SIZE[1]}"
    )
    rows = [
        [number, run["answers_to_paint_ms"], run["key_to_paint_ms"]]
        for number, run in enumerate(result["runs"], 1)
    ]
    print_table(rows, ["run", "answers -> painted ms", "key -> painted ms"])
    print(
        f"\nanswers -> painted: median {result['answers_to_paint_ms_median']} ms "
        f"(range {result['answers_to_paint_ms_min']}-{result['answers_to_paint_ms_max']} ms "
        f"over {len(rows)} runs); key -> painted median {result['key_to_paint_ms_median']} ms"
    )
    print(
        f"one poll: {result['poll_requests']} CML requests (1 + labs + started labs); "
        f"fleet CML cycle with the screen closed: {result['steady_cycle_cml_requests_before']} "
        f"requests before, {result['steady_cycle_cml_requests_after']} after"
    )
    print_targets(result["targets"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=50)
    parser.add_argument("--running", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.labs < 6 or args.runs < 1:
        parser.error("--labs must be at least 6 (the demo worker's own) and --runs at least 1")
    result = asyncio.run(run(args))
    if args.json:
        emit(result, True)
    else:
        print_report(result)
    return 0 if result["unexpected_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
