"""Many cmltui processes on one data file, for minutes, with random SIGKILLs (issue 12).

The parent starts the demo fleet (moto + the fake CML, in this process), then runs at once:

* a dashboard engine: a child process running cmltui's controller loops (what the dashboard
  runs), killed with SIGKILL at random moments and started again;
* two cron-like loops, each running real ``cmltui start|stop|auto-stop on|off NAME`` commands
  one after another as its own user (``USER=cron-a`` / ``cron-b``), some killed mid-command.

At the end it checks the data file: every start/stop that exited 0 has its intent event with
that user; no event is recorded twice; every intent has an outcome (or is the worker's pending
action); every worker's replay equals its stored state. Prints one JSON object; exit 0 when every
check held.

Run: ``python scripts/many_writers.py [--seconds 180] [--workers 6] [--seed 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REQUESTED = "cmltui.worker.action-requested.v1"
COMPLETED = "cmltui.worker.action-completed.v1"
STATUS = "cmltui.worker.status-updated.v1"


# ---------------------------------------------------------------------------- the dashboard
def run_dashboard(config_path: Path, log_dir: Path) -> None:
    from cmltui.config import load_config
    from cmltui.wiring import build_runtime, setup_logging

    setup_logging(log_dir)
    config, _, _ = load_config(config_path)

    async def main() -> None:
        runtime = build_runtime(config, user="dashboard")
        await runtime.controller.start()
        print("ready", flush=True)
        while True:
            await asyncio.sleep(3600)

    asyncio.run(main())


# ---------------------------------------------------------------------------- the parent
@dataclass
class Command:
    actor: str
    verb: list[str]
    name: str
    started: datetime
    ended: datetime
    returncode: int | None  # None: killed by the script


@dataclass
class Run:
    commands: list[Command] = field(default_factory=list)
    dashboard_kills: int = 0
    command_kills: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cron_loop(
    actor: str, names: list[str], config_path: Path, env: dict, stop_at: float, run: Run, seed: int
) -> None:
    rng = random.Random(seed)
    verbs = [["start"], ["stop"], ["auto-stop", "on"], ["auto-stop", "off"]]
    while time.monotonic() < stop_at:
        verb = rng.choice(verbs)
        name = rng.choice(names)
        started = datetime.now(UTC)
        proc = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            [sys.executable, "-m", "cmltui", "--config", str(config_path), *verb, name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**env, "USER": actor, "LOGNAME": actor},
        )
        returncode: int | None
        if rng.random() < 0.15:
            time.sleep(rng.uniform(0.3, 2.0))
            proc.kill()
            proc.wait(timeout=60)
            returncode = None
        else:
            returncode = proc.wait(timeout=120)
        with run.lock:
            run.command_kills += returncode is None
            run.commands.append(Command(actor, verb, name, started, datetime.now(UTC), returncode))


def _start_dashboard(config_path: Path, work: Path, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--dashboard",
            str(config_path),
            str(work / "log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=open(work / "dashboard-stderr.log", "ab"),  # noqa: SIM115
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"the dashboard did not start; see {work / 'dashboard-stderr.log'}")
    return proc


def _check(data_dir: Path, run: Run) -> dict:
    from cmltui.domain.worker import CMLWorker
    from cmltui.store import open_store

    store = open_store(data_dir, read_only=True)
    problems: list[str] = []
    try:
        envelopes = store.events(limit=None)
        ids = [e.id for e in envelopes]
        if len(ids) != len(set(ids)):
            problems.append(f"{len(ids) - len(set(ids))} event ids recorded twice")
        by_worker: dict[str, list] = {}
        for envelope in envelopes:
            by_worker.setdefault(envelope.subject, []).append(envelope)
        workers = {w.id: w for w in store.all_workers()}
        names = {w.name: w.id for w in workers.values()}
        # No status change recorded twice in a row (two processes observing the same thing).
        duplicates = 0
        for events in by_worker.values():
            statuses = [
                (e.data["old_status"], e.data["new_status"]) for e in events if e.type == STATUS
            ]
            twice = [a for a, b in itertools.pairwise(statuses) if a == b]
            duplicates += len(twice)
            if twice:
                problems.append(f"{events[0].subject}: {twice[0]} twice; trail {statuses}")
        if duplicates:
            problems.append(f"{duplicates} status changes recorded twice in a row")
        # Every start/stop that exited 0 has its intent, by its user, in its time.
        matched = 0
        used: set[str] = set()
        lifecycle_ok = [
            c for c in run.commands if c.returncode == 0 and c.verb[0] in ("start", "stop")
        ]
        for command in lifecycle_ok:
            events = by_worker.get(names.get(command.name, ""), [])
            found = next(
                (
                    e
                    for e in events
                    if e.type == REQUESTED
                    and e.id not in used
                    and e.data["action"] == command.verb[0]
                    and str(e.data["requested_by"]).split("@", 1)[0] == command.actor  # user@host
                    and command.started - timedelta(seconds=2)
                    <= e.time
                    <= command.ended + timedelta(seconds=2)
                ),
                None,
            )
            if found is None:
                problems.append(f"no intent for {command.actor} {command.verb} {command.name}")
            else:
                used.add(found.id)
                matched += 1
        # Every intent has its outcome, or is the worker's pending action.
        open_intents = 0
        for worker_id, events in by_worker.items():
            done = {e.data["request_token"] for e in events if e.type == COMPLETED}
            pending = workers.get(worker_id)
            open_tokens = (
                {a.request_token for a in pending.state.open_actions()} if pending else set()
            )
            for e in events:
                if e.type == REQUESTED and e.data["request_token"] not in done:
                    if e.data["request_token"] not in open_tokens:
                        problems.append(f"intent {e.data['request_token']} has no outcome")
                    else:
                        open_intents += 1
        # Replay equals the stored state.
        replay_mismatches = 0
        for worker in workers.values():
            replayed = CMLWorker.from_events(store.domain_events_for(worker.id))
            # Telemetry retention compacts what it drops into a checkpoint (issue 15 item 16),
            # so the version (every event applied, telemetry included) must match too.
            a = replayed.state.model_dump(exclude={"updated_at"})
            b = worker.state.model_dump(exclude={"updated_at"})
            if a != b:
                replay_mismatches += 1
                diff = {k: (a[k], b[k]) for k in a if a[k] != b.get(k)}
                problems.append(f"{worker.id}: replay differs: {diff}")
        if replay_mismatches:
            problems.append(f"{replay_mismatches} workers whose replay differs from their state")
        return {
            "events": len(envelopes),
            "workers": len(workers),
            "lifecycle_commands_exit_0": len(lifecycle_ok),
            "with_their_intent": matched,
            "intents_still_pending": open_intents,
            "problems": problems[:20],
            "problem_count": len(problems),
        }
    finally:
        store.close()


def run_parent(args: argparse.Namespace) -> int:
    from cmltui.demo.fleet import DemoFleet

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="cmltui-many-writers-"))
    fleet = DemoFleet(workers=args.workers, seed=args.seed, folder=work / "demo")
    info = fleet.start()
    config_path = Path(info.config_path)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "AWS_ACCESS_KEY_ID": "cmltui-demo",
        "AWS_SECRET_ACCESS_KEY": "cmltui-demo",
    }
    run = Run()
    started = time.monotonic()
    stop_at = started + args.seconds
    try:
        dashboard = _start_dashboard(config_path, work, env)
        names: list[str] = []
        for _ in range(300):  # until the dashboard's first cycle has imported the fleet
            names = [w.name for w in _names(Path(info.data_dir))]
            if len(names) >= args.workers:
                break
            time.sleep(0.1)
        loops = [
            threading.Thread(
                target=_cron_loop,
                args=(actor, names, config_path, env, stop_at, run, args.seed + i),
                daemon=True,
            )
            for i, actor in enumerate(("cron-a", "cron-b"))
        ]
        for loop in loops:
            loop.start()
        while time.monotonic() < stop_at:
            time.sleep(min(rng.uniform(5, 20), max(0.0, stop_at - time.monotonic())))
            if time.monotonic() >= stop_at:
                break
            os.kill(dashboard.pid, signal.SIGKILL)
            dashboard.wait(timeout=30)
            run.dashboard_kills += 1
            dashboard = _start_dashboard(config_path, work, env)
        for loop in loops:
            loop.join(timeout=180)
        time.sleep(3)  # the dashboard's next cycle completes what the killed commands left
        os.kill(dashboard.pid, signal.SIGKILL)
        dashboard.wait(timeout=30)
        result = _check(Path(info.data_dir), run)
    finally:
        fleet.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    codes: dict[str, int] = {}
    for command in run.commands:
        key = "killed" if command.returncode is None else str(command.returncode)
        codes[key] = codes.get(key, 0) + 1
    summary = {
        "seconds": round(time.monotonic() - started, 1),
        "commands": len(run.commands),
        "exit_codes": codes,
        "dashboard_kills": run.dashboard_kills,
        "command_kills": run.command_kills,
        **result,
    }
    print(json.dumps(summary, indent=2))
    return 0 if result["problem_count"] == 0 and run.commands else 1


def _names(data_dir: Path) -> list:
    from cmltui.store import open_store

    store = open_store(data_dir, read_only=True)
    try:
        return [w for w in store.all_workers() if not w.is_terminated]
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--dashboard", nargs=2, metavar=("CONFIG", "LOGDIR"))
    args = parser.parse_args(argv)
    if args.dashboard:
        run_dashboard(Path(args.dashboard[0]), Path(args.dashboard[1]))
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
