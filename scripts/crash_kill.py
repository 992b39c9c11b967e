"""Crash safety at volume: kill a working cmltui with SIGKILL at random moments, N times.

The parent starts the demo fleet once (moto + the fake CML server, in this process), then
again and again starts a child: a real cmltui process (``build_runtime`` on the demo's config:
real store, gateway and CML pool) that loops refresh cycles and operator actions (stop, start,
auto-stop opt-out). After every cycle whose write reached the disk the child appends one line
to a report file: the last event sequence number on disk and the new non-telemetry events.
The parent kills the child at a random moment, then checks that the data file loads cleanly and
holds every event the child reported as committed. (Telemetry events are pruned by retention
on purpose, so the lifecycle events are what is checked one by one.)

With ``--hold-answers`` (issue 12, intent first) the fault wrapper in front of moto holds every
StopInstances, StartInstances, TerminateInstances and RunInstances answer for a random 0.2-2 s, so
that many kills land after a call went out and before its answer; each child acts as its own
user (``crash-child-N``) and also creates and terminates workers. After the last kill a fresh
controller reconciles (the real clock, then 16 min ahead), and the parent checks the trail: every
status change an intent asked for carries that intent's actor (terminated_by likewise, a create
is never ``ec2-sync``'s), every intent has an outcome or is its worker's pending action, no event
is lost or recorded twice, and no instance runs without its worker (see ``_crash_checks.py``).

Run: ``python scripts/crash_kill.py [--kills 200] [--seed 1] [--workers 6] [--max-delay 1.5]
[--hold-answers]``. Exit code 0 when every kill left a loadable file holding everything
committed (and, with ``--hold-answers``, every check above held), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TELEMETRY_TYPE = "cmltui.worker.telemetry-updated.v1"
#: The child's first line: the runtime is built and the first cycle is on disk.
READY = "ready"


# ---------------------------------------------------------------------------- the child
def _report(fd: int, payload: dict) -> None:
    # One write() per line: a kill can cut a line short but never interleave two.
    os.write(fd, (json.dumps(payload) + "\n").encode())


def _committed_since(store, last_reported: int) -> tuple[int, list[int]]:
    """(last sequence number on disk, its non-telemetry events newer than ``last_reported``)."""
    seqs = store.event_sequence_numbers()
    new = [seq for seq in seqs if seq > last_reported]
    if not new:
        return (seqs[-1] if seqs else last_reported), []
    envelopes = store.events(limit=len(new))
    lifecycle = [seq for seq, env in zip(new, envelopes, strict=True) if env.type != TELEMETRY_TYPE]
    return new[-1], lifecycle


async def _hold_mode_actions(controller, rng: random.Random, target: int) -> None:
    """Stop, start, create and terminate (in a random order), then an opt-out, as in a
    ``--hold-answers`` run: every lifecycle call's answer is held by the parent's fault wrapper."""
    from cmltui.domain.enums import CMLWorkerStatus

    live = [w for w in controller.workers() if w.status != CMLWorkerStatus.TERMINATED]
    bound = [w for w in live if w.aws_instance_id]
    running = [w.id for w in bound if w.status == CMLWorkerStatus.RUNNING]
    stopped = [w.id for w in bound if w.status == CMLWorkerStatus.STOPPED]
    plan: list[tuple[str, str]] = []
    if running and rng.random() < 0.4:
        plan.append(("stop", rng.choice(running)))
    if stopped and rng.random() < 0.4:
        plan.append(("start", rng.choice(stopped)))
    if len(live) < target + 2 and rng.random() < 0.3:
        plan.append(("create", f"ck-{rng.randrange(16**8):08x}"))
    if len(live) > max(2, target - 2) and rng.random() < 0.3:
        # Any live worker, one whose create is still unanswered included.
        plan.append(("terminate", rng.choice(live).id))
    rng.shuffle(plan)
    for verb, what in plan:
        if verb == "stop":
            await controller.stop_workers([what])
        elif verb == "start":
            await controller.start_workers([what])
        elif verb == "terminate":
            await controller.terminate_workers([what])
        else:
            await controller.create_worker(what, rng.choice(controller.config.regions))
    if bound:
        target_worker = rng.choice(bound)
        await controller.set_auto_stop_opt_out(
            [target_worker.id], not target_worker.auto_stop_opt_out
        )


async def _child_loop(
    config_path: Path, report_path: Path, seed: int, actor: str | None = None, target: int = 0
) -> None:
    """``target`` > 0: the ``--hold-answers`` child (its own actor, creates and terminates,
    ready as soon as it has loaded, so that kills land anywhere in its first cycle too)."""
    from cmltui.config import load_config
    from cmltui.domain.enums import CMLWorkerStatus
    from cmltui.wiring import build_runtime

    config, _, _ = load_config(config_path)
    runtime = build_runtime(config, user=actor)
    store = runtime.store
    if store.read_only:
        raise SystemExit("the data file is locked: the previous child is still alive")
    controller = runtime.controller
    rng = random.Random(seed)
    fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    last_reported = store.event_sequence_numbers()[-1] if store.event_sequence_numbers() else 0
    cycle = 0
    await controller.load()
    if target:
        print(READY, flush=True)
    while True:
        cycle += 1
        await controller.refresh_once()
        if target:
            await _hold_mode_actions(controller, rng, target)
            last_reported = _report_committed(store, fd, cycle, last_reported)
            continue
        workers = [w for w in controller.workers() if w.aws_instance_id]
        running = [w.id for w in workers if w.status == CMLWorkerStatus.RUNNING]
        stopped = [w.id for w in workers if w.status == CMLWorkerStatus.STOPPED]
        if running and rng.random() < 0.5:
            await controller.stop_workers([rng.choice(running)])
        if stopped and rng.random() < 0.5:
            await controller.start_workers([rng.choice(stopped)])
        if workers:
            target = rng.choice(workers)
            await controller.set_auto_stop_opt_out([target.id], not target.auto_stop_opt_out)
        if store.pending_write:
            continue  # not on disk: nothing to report
        last_seq, lifecycle = _committed_since(store, last_reported)
        last_reported = last_seq
        _report(fd, {"cycle": cycle, "last_seq": last_seq, "lifecycle": lifecycle})
        if cycle == 1:
            print(READY, flush=True)


def _report_committed(store, fd: int, cycle: int, last_reported: int) -> int:
    """Report what reached the disk since ``last_reported``; returns the new last reported."""
    if store.pending_write:
        return last_reported  # not on disk: nothing to report
    last_seq, lifecycle = _committed_since(store, last_reported)
    _report(fd, {"cycle": cycle, "last_seq": last_seq, "lifecycle": lifecycle})
    return last_seq


def run_child(
    config_path: Path,
    report_path: Path,
    seed: int,
    log_dir: Path,
    actor: str | None = None,
    target: int = 0,
) -> None:
    from cmltui.wiring import setup_logging

    setup_logging(log_dir)
    asyncio.run(_child_loop(config_path, report_path, seed, actor, target))


# ---------------------------------------------------------------------------- the parent
@dataclass
class Tally:
    kills: int = 0
    loads_ok: int = 0
    committed_events: set[int] = field(default_factory=set)
    last_committed_seq: int = 0
    lifecycle_events_checked: int = 0
    temp_files_left: int = 0
    cycles_reported: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum("lost" in p for p in self.problems)

    def summary(self) -> dict:
        return {
            "kills": self.kills,
            "loads_ok": self.loads_ok,
            "cycles_committed": self.cycles_reported,
            "events_committed_and_checked": len(self.committed_events),
            "event_checks": self.lifecycle_events_checked,
            "last_committed_seq": self.last_committed_seq,
            "kills_leaving_a_temp_file": self.temp_files_left,
            "lost": self.lost,
            "problems": self.problems[:20],
        }


def _read_reports(report_path: Path, tally: Tally, offset: int) -> int:
    """Fold the complete lines written since ``offset`` into the tally; returns the new offset."""
    data = report_path.read_bytes()[offset:] if report_path.exists() else b""
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.splitlines():
        entry = json.loads(line)
        tally.cycles_reported += 1
        tally.last_committed_seq = max(tally.last_committed_seq, entry["last_seq"])
        tally.committed_events.update(entry["lifecycle"])
    return offset + len(complete)


def _check_data_file(data_dir: Path, tally: Tally, kill_number: int) -> None:
    from cmltui.store import open_store

    try:
        store = open_store(data_dir, read_only=True)
    except Exception as err:  # anything at all is a failed load
        tally.problems.append(f"kill {kill_number}: the data file does not load: {err!r}")
        return
    try:
        damaged = [n for n in store.notices if "damaged" in n or "unreadable" in n]
        if damaged:
            tally.problems.append(f"kill {kill_number}: {damaged[0]}")
            return
        tally.loads_ok += 1
        on_disk = set(store.event_sequence_numbers())
        missing = sorted(tally.committed_events - on_disk)
        tally.lifecycle_events_checked += len(tally.committed_events)
        if missing:
            tally.problems.append(
                f"kill {kill_number}: lost {len(missing)} committed events, e.g. {missing[:5]}"
            )
        last_seq = store.get_meta("last_event_seq", 0)
        if last_seq < tally.last_committed_seq:
            tally.problems.append(
                f"kill {kill_number}: lost events: last seq {last_seq} on disk, "
                f"{tally.last_committed_seq} committed"
            )
    finally:
        store.close()


def run_parent(args: argparse.Namespace) -> int:
    from cmltui.demo.fleet import DemoFleet

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="cmltui-crash-kill-"))
    fleet = DemoFleet(
        workers=args.workers,
        seed=args.seed,
        folder=work / "demo",
        put_cloudwatch_metrics=True,
    )
    info = fleet.start()
    data_dir = Path(info.data_dir)
    report_path = work / "committed.jsonl"
    tally = Tally()
    offset = 0
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "AWS_ACCESS_KEY_ID": "cmltui-demo",
        "AWS_SECRET_ACCESS_KEY": "cmltui-demo",
    }
    started = time.monotonic()
    child_errors = open(work / "child-stderr.log", "ab")  # noqa: SIM115 (closed below)
    holder = hold = None
    if args.hold_answers:
        from _crash_checks import AnswerHolder

        holder_rng = random.Random(rng.randrange(1 << 30))
        holder = AnswerHolder(fleet.moto.faults, holder_rng, args.hold_min, args.hold_max)
        hold = HoldTally()
    try:
        for kill_number in range(1, args.kills + 1):
            extra = ["--actor", f"crash-child-{kill_number}", "--target", str(args.workers)]
            child_started = time.monotonic()
            child = subprocess.Popen(  # noqa: S603 (our own script, no shell)
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--child",
                    info.config_path,
                    str(report_path),
                    str(rng.randrange(1 << 30)),
                    str(work / "log"),
                    *(extra if holder else []),
                ],
                stdout=subprocess.PIPE,
                stderr=child_errors,
                stdin=subprocess.DEVNULL,
                env=env,
                text=True,
            )
            # A child that never gets ready must not hang the run.
            watchdog = threading.Timer(args.start_timeout, child.kill)
            watchdog.start()
            line = child.stdout.readline().strip()
            watchdog.cancel()
            if line != READY:
                child.kill()
                child.wait(timeout=30)
                child_errors.flush()
                tail = (work / "child-stderr.log").read_text(errors="replace")[-800:]
                tally.problems.append(f"kill {kill_number}: the child did not start: {tail}")
                break
            time.sleep(rng.uniform(0, args.max_delay))
            moment = time.monotonic()
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            if holder is not None and hold is not None:
                held = holder.held_at(moment, since=child_started)
                if held:
                    hold.kills_while_held[held] += 1
            child.stdout.close()
            tally.kills += 1
            tally.temp_files_left += (data_dir / "cmltui.json.tmp").exists()
            offset = _read_reports(report_path, tally, offset)
            _check_data_file(data_dir, tally, kill_number)
            if args.verbose:
                print(f"kill {kill_number}: {len(tally.committed_events)} events", flush=True)
        if holder is not None and hold is not None and tally.kills == args.kills:
            holder.release()  # every held call is answered (it happens, as in AWS)
            hold.actions_sent = holder.requests
            _final_checks(fleet, info, tally, hold)
    finally:
        child_errors.close()
        if holder is not None:
            holder.release(timeout=5)
        fleet.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    summary = tally.summary()
    if hold is not None:
        summary["hold_answers"] = hold.summary()
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=2))
    ok = tally.kills == args.kills and tally.loads_ok == tally.kills and not tally.problems
    if hold is not None:
        ok = ok and hold.checked and not hold.problems
    return 0 if ok else 1


@dataclass
class HoldTally:
    """What ``--hold-answers`` adds to the summary."""

    kills_while_held: Counter = field(default_factory=Counter)
    actions_sent: Counter = field(default_factory=Counter)
    reconciliation: dict = field(default_factory=dict)
    trail: dict = field(default_factory=dict)
    leaked_instances: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked: bool = False

    def summary(self) -> dict:
        return {
            "actions_sent": sum(self.actions_sent.values()),
            "actions_sent_by_call": dict(sorted(self.actions_sent.items())),
            "kills_while_an_answer_was_held": sum(self.kills_while_held.values()),
            "kills_while_held_by_call": dict(sorted(self.kills_while_held.items())),
            **self.trail,
            **self.reconciliation,
            "instances_without_a_live_worker": self.leaked_instances,
            "problems": self.problems[:30],
        }


def _final_checks(fleet, info, tally: Tally, hold: HoldTally) -> None:
    """The next cmltui after the last kill reconciles; then the data file is checked again."""
    from _crash_checks import check_trail, final_reconciliation, leaked_instances

    data_dir = Path(info.data_dir)
    hold.reconciliation = final_reconciliation(Path(info.config_path), "crash-kill-reconciler")
    loads_before = tally.loads_ok
    _check_data_file(data_dir, tally, tally.kills + 1)  # nothing committed lost by it either
    tally.loads_ok = loads_before  # loads_ok counts the loads after a kill
    trail = check_trail(data_dir)
    hold.trail = trail.summary()
    hold.problems.extend(trail.problems)
    hold.leaked_instances = leaked_instances(info.aws_endpoint_url, fleet.regions, data_dir)
    hold.problems.extend(f"no live worker for {i}" for i in hold.leaked_instances)
    hold.checked = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to deliver (200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=6, help="workers in the demo fleet (6)")
    parser.add_argument(
        "--max-delay",
        type=float,
        default=None,
        help="longest wait before a kill, seconds (1.5; 4 with --hold-answers)",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=60.0, help="longest wait for a child to start"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--hold-answers",
        action="store_true",
        help="hold every start/stop/terminate/run answer for a random time; check the intents",
    )
    parser.add_argument("--hold-min", type=float, default=0.2, help="shortest hold, s (0.2)")
    parser.add_argument("--hold-max", type=float, default=2.0, help="longest hold, s (2.0)")
    parser.add_argument("--child", nargs=4, metavar=("CONFIG", "REPORT", "SEED", "LOGDIR"))
    parser.add_argument("--actor", help=argparse.SUPPRESS)  # the child's user
    parser.add_argument("--target", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_delay is None:
        args.max_delay = 4.0 if args.hold_answers else 1.5
    if args.child:
        config, report, seed, log_dir = args.child
        run_child(Path(config), Path(report), int(seed), Path(log_dir), args.actor, args.target)
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
