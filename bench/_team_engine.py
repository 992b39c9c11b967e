"""One cmltui engine of bench/team.py, as a child process: cmltui's own runtime (``build_runtime``
and the controller's three loops, the engine the dashboard runs; no UI) on the team's DynamoDB
table, plus this operator's share of the bench's action plan, carried out through the
controller's own action methods at the planned instants.

    python bench/_team_engine.py SPEC.json

SPEC names the config, the user, the plan, the run's start (epoch seconds) and the files this
process appends to, each line flushed at once (a SIGKILL loses nothing acknowledged):

* ``commits``: every event the store reported written to the table (``_written``, called once
  the ``TransactWriteItems`` holding it succeeded): worker id, version, event id, type;
* ``actions``: each planned action and what the controller answered;
* ``status``: ``started`` (pid, lease holder id) and, on SIGTERM, ``clean`` once the controller
  stopped (its last commit written, the lease released).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import use_demo_credentials

from cmltui.config import load_config
from cmltui.wiring import build_runtime, setup_logging

#: Opening the store reads the table; under a throttle it is tried again this many times.
OPEN_ATTEMPTS = 30


def _line(handle: TextIO, record: dict[str, Any]) -> None:
    handle.write(json.dumps(record, separators=(",", ":")) + "\n")
    handle.flush()


def _log_commits(store: Any, handle: TextIO) -> None:
    """Append each event the store wrote (bench instrument: the store's own write callback)."""
    written = store._written

    def logged(pending: Any, state: Any, version: int) -> None:
        written(pending, state, version)
        for _, event_version, telemetry, envelope in pending.written:
            _line(
                handle,
                {
                    "w": pending.worker_id,
                    "v": event_version,
                    "id": envelope.id,
                    "type": envelope.type,
                    "telemetry": telemetry,
                },
            )

    store._written = logged


def _config(spec: dict[str, Any]) -> Any:
    config, _, _ = load_config(Path(spec["config_path"]))
    idle = config.idle.model_copy(
        update={
            "auto_stop": True,
            "threshold_minutes": spec["idle_minutes"],
            "snooze_minutes": 0,
        }
    )
    return config.model_copy(update={"idle": idle})


async def _open(spec: dict[str, Any], status: TextIO) -> Any:
    config = _config(spec)
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            return build_runtime(config, user=spec["user"])
        except Exception as err:  # a throttled table at open: try again shortly
            _line(status, {"open_failed": attempt, "error": f"{type(err).__name__}: {err}"})
            if attempt == OPEN_ATTEMPTS:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def _act(controller: Any, action: str, worker_id: str) -> Any:
    if action == "start":
        return await controller.start_workers([worker_id])
    if action == "stop":
        return await controller.stop_workers([worker_id])
    if action in ("opt-out", "opt-in"):
        return await controller.set_auto_stop_opt_out([worker_id], action == "opt-out")
    raise ValueError(f"unknown action {action!r}")


async def _carry_out(spec: dict[str, Any], controller: Any, actions: TextIO) -> None:
    """This operator's planned actions still ahead (a restarted process skips the past)."""
    rng = random.Random(spec["seed"] * 7919 + spec["index"])
    start = spec["start_epoch"]
    for slot in spec["plan"]:
        action = slot["actions"].get(str(spec["index"]))
        if action is None:
            continue
        at = start + slot["t"] + rng.uniform(0.0, spec["jitter"])
        if at < time.time():
            continue
        await asyncio.sleep(at - time.time())
        began = time.time()
        try:
            result = await _act(controller, action, slot["worker_id"])
            outcome = {
                "done": list(result.done),
                "refused": list(result.refused),
                "failed": list(result.failed),
            }
        except Exception as err:  # reported, never fatal: the loops go on
            outcome = {"error": f"{type(err).__name__}: {err}"}
        _line(
            actions,
            {
                "t": round(began - start, 2),
                "took": round(time.time() - began, 2),
                "worker_id": slot["worker_id"],
                "action": action,
                **outcome,
            },
        )


async def run(spec: dict[str, Any]) -> int:
    out = Path(spec["out_dir"])
    setup_logging(out / "log")
    with (
        open(out / "commits.jsonl", "a", encoding="utf-8") as commits,
        open(out / "actions.jsonl", "a", encoding="utf-8") as actions,
        open(out / "status.jsonl", "a", encoding="utf-8") as status,
    ):
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        runtime = await _open(spec, status)
        controller = runtime.controller
        _log_commits(runtime.store, commits)
        _line(status, {"started": time.time(), "holder": controller.holder_id})
        await controller.start()
        planned = asyncio.create_task(_carry_out(spec, controller, actions))
        await stopping.wait()
        planned.cancel()
        try:
            await planned
        except asyncio.CancelledError:
            pass
        try:
            await runtime.aclose()
        except Exception as err:  # the last write failed: said, not a traceback
            _line(status, {"close_failed": time.time(), "error": f"{type(err).__name__}: {err}"})
            return 3
        _line(
            status,
            {
                "clean": time.time(),
                "cml_requests": controller.cml_request_count,
                "aws_requests": controller.aws_request_count,
                "pending_write": bool(runtime.store.pending_write),
            },
        )
    return 0


def main() -> int:
    use_demo_credentials()
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    return asyncio.run(run(spec))


if __name__ == "__main__":
    raise SystemExit(main())
