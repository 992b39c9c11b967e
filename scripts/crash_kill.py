"""Crash safety at volume: kill a working cmltui with SIGKILL at random moments, N times.

The parent starts the demo fleet once (moto + the fake CML server, in this process), then
again and again starts a child: a real cmltui process (``build_runtime`` on the demo's config:
real store, gateway and CML pool) that loops refresh cycles and operator actions (stop, start,
auto-stop opt-out). After every cycle whose write reached the disk the child appends one line
to a report file: the last event sequence number on disk and the new non-telemetry events.
The parent kills the child at a random moment, then checks that the data file loads cleanly and
holds every event the child reported as committed. (Telemetry events are pruned by retention
on purpose, so the lifecycle events are what is checked one by one.)

Run: ``python scripts/crash_kill.py [--kills 200] [--seed 1] [--workers 6] [--max-delay 1.5]``.
Exit code 0 when every kill left a loadable file holding everything committed, 1 otherwise.
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


async def _child_loop(config_path: Path, report_path: Path, seed: int) -> None:
    from cmltui.config import load_config
    from cmltui.domain.enums import CMLWorkerStatus
    from cmltui.wiring import build_runtime

    config, _, _ = load_config(config_path)
    runtime = build_runtime(config)
    store = runtime.store
    if store.read_only:
        raise SystemExit("the data file is locked: the previous child is still alive")
    controller = runtime.controller
    rng = random.Random(seed)
    fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    last_reported = store.event_sequence_numbers()[-1] if store.event_sequence_numbers() else 0
    cycle = 0
    await controller.load()
    while True:
        cycle += 1
        await controller.refresh_once()
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


def run_child(config_path: Path, report_path: Path, seed: int, log_dir: Path) -> None:
    from cmltui.wiring import setup_logging

    setup_logging(log_dir)
    asyncio.run(_child_loop(config_path, report_path, seed))


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
    try:
        for kill_number in range(1, args.kills + 1):
            child = subprocess.Popen(  # noqa: S603 (our own script, no shell)
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--child",
                    info.config_path,
                    str(report_path),
                    str(rng.randrange(1 << 30)),
                    str(work / "log"),
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
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
            child.stdout.close()
            tally.kills += 1
            tally.temp_files_left += (data_dir / "cmltui.json.tmp").exists()
            offset = _read_reports(report_path, tally, offset)
            _check_data_file(data_dir, tally, kill_number)
            if args.verbose:
                print(f"kill {kill_number}: {len(tally.committed_events)} events", flush=True)
    finally:
        child_errors.close()
        fleet.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    summary = tally.summary()
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=2))
    ok = tally.kills == args.kills and tally.loads_ok == tally.kills and not tally.problems
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to deliver (200)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=6, help="workers in the demo fleet (6)")
    parser.add_argument(
        "--max-delay", type=float, default=1.5, help="longest wait before a kill, seconds (1.5)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=60.0, help="longest wait for a child to start"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("CONFIG", "REPORT", "SEED", "LOGDIR"))
    args = parser.parse_args(argv)
    if args.child:
        config, report, seed, log_dir = args.child
        run_child(Path(config), Path(report), int(seed), Path(log_dir))
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
