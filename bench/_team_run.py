"""One run of bench/team.py: the team demo fleet in a child process, N cmltui engines
(``_team_engine``) on its table, the action plan, random SIGKILLs and restarts, DynamoDB
throttle stretches, the lease watched, the CML requests counted in a quiet window at the end;
then every engine stopped cleanly (SIGTERM) and the checks made on the table.

Timeline of a run of S seconds with a measure window of M seconds at its end:

* ``[0, S - M - 10)``: the chaos: planned operator actions (conflicting ones on the contested
  workers), DynamoDB throttled in stretches, an engine SIGKILLed every so often and restarted.
  The lease holder is killed only early enough that its successor has taken over (one lease
  period, 60 s) before the window;
* ``[S - M, S)``: the window: no action, no fault, no kill; the CML requests the fake CML
  received are counted (per CML interval), to compare with one operator's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _team_checks import (
    check_automatic,
    check_events,
    check_replay,
    read_commit_logs,
    scan_table,
)
from _team_plan import (
    RunSettings,
    action_errors,
    cml_window,
    count_actions,
    last_status,
    lease_client,
    log_errors,
    make_plan,
    read_lease,
)
from _team_servers import TeamFleetProcess

ENGINE = Path(__file__).resolve().parent / "_team_engine.py"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Engine:
    index: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    holder: str | None = None
    starts: int = 0


@dataclass
class Chaos:
    kills: list[dict[str, Any]] = field(default_factory=list)
    throttles: list[dict[str, Any]] = field(default_factory=list)
    lease_changes: list[dict[str, Any]] = field(default_factory=list)


class TeamRun:
    def __init__(self, settings: RunSettings, label: str) -> None:
        self.settings = settings
        self.label = label
        self.rng = random.Random(settings.seed * 31 + 5)
        self.folder = Path(tempfile.mkdtemp(prefix=f"cmltui-bench-team-{label}-"))
        self.fleet: TeamFleetProcess | None = None
        self.engines: list[Engine] = []
        self.chaos = Chaos()
        self.start_epoch = 0.0
        self.plan: list[dict[str, Any]] = []
        #: holder -> when its lease last said it expires (seconds into the run).
        self.lease_expiry: dict[str, float] = {}

    # ------------------------------------------------------------------ engines
    def _spec(self, engine: Engine) -> Path:
        assert self.fleet is not None
        spec = {
            "config_path": self.fleet.info["config_path"],
            "user": f"op{engine.index + 1}@bench",
            "index": engine.index,
            "seed": self.settings.seed,
            "idle_minutes": self.settings.idle_minutes,
            "start_epoch": self.start_epoch,
            "jitter": 0.25,
            "plan": self.plan,
            "out_dir": str(engine.folder),
        }
        path = engine.folder / "spec.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        return path

    def _launch(self, engine: Engine) -> None:
        engine.folder.mkdir(parents=True, exist_ok=True)
        spec = self._spec(engine)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(engine.folder / "stderr.txt", "ab") as err:
            engine.process = subprocess.Popen(  # noqa: S603 (this interpreter, our script)
                [sys.executable, str(ENGINE), str(spec)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env=env,
                cwd=str(ROOT),
            )
        engine.holder = None
        engine.starts += 1

    def _holder_of(self, engine: Engine) -> str | None:
        if engine.holder is None and engine.process is not None:
            path = engine.folder / "status.jsonl"
            if path.exists():
                for line in path.read_text(encoding="utf-8").splitlines()[::-1]:
                    record = json.loads(line)
                    if "holder" in record and record["holder"].endswith(f":{engine.process.pid}"):
                        engine.holder = record["holder"]
                        break
        return engine.holder

    # ------------------------------------------------------------------ chaos
    def _kill(self, now: float, holder: str | None) -> None:
        """SIGKILL one engine (the lease holder when it is early enough), restart it later."""
        s = self.settings
        live = [e for e in self.engines if e.process is not None and e.process.poll() is None]
        if len(live) < 1:
            return
        holders = [e for e in live if holder and self._holder_of(e) == holder]
        may_kill_holder = now < s.seconds - s.measure_seconds - s.lease_seconds - 15.0
        if holders and may_kill_holder and (self.rng.random() < 0.6 or len(live) == 1):
            victim = holders[0]
        else:
            others = [e for e in live if e not in holders] or ([] if not may_kill_holder else live)
            if not others:
                return
            victim = self.rng.choice(others)
        was_holder = bool(holder) and self._holder_of(victim) == holder
        assert victim.process is not None
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        self.chaos.kills.append(
            {
                "t": round(now, 1),
                "engine": victim.index + 1,
                "holder": self._holder_of(victim),
                "was_lease_holder": was_holder,
                "lease_expires_in": (
                    round(self.lease_expiry[holder] - now, 1)
                    if was_holder and holder in self.lease_expiry
                    else None
                ),
                "restart_at": round(now + self.rng.uniform(2.0, 6.0), 1),
                "taken_over_after": None,
            }
        )
        victim.process = None

    def _restart_due(self, now: float) -> None:
        for kill in self.chaos.kills:
            engine = self.engines[kill["engine"] - 1]
            if engine.process is None and now >= kill["restart_at"]:
                self._launch(engine)

    def _watch_lease(self, now: float, holder: str | None) -> None:
        if holder is None:
            return
        changes = self.chaos.lease_changes
        if not changes or changes[-1]["holder"] != holder:
            changes.append({"t": round(now, 1), "holder": holder})
            if holder:
                for kill in self.chaos.kills:
                    if (
                        kill["was_lease_holder"]
                        and kill["taken_over_after"] is None
                        and kill["holder"] != holder
                    ):
                        kill["taken_over_after"] = round(now - kill["t"], 1)

    def _throttle(self, now: float, stretch: dict[str, Any] | None) -> dict[str, Any] | None:
        assert self.fleet is not None
        if stretch is not None:
            if now >= stretch["until"]:
                self.fleet.call("dynamodb_clear")
                return None
            return stretch
        hard = self.rng.random() < 0.5
        length = self.rng.uniform(2.0, 7.0)
        count = None if hard else self.rng.randint(5, 30)
        self.fleet.call("dynamodb_throttle", count=count)
        stretch = {"t": round(now, 1), "until": now + length, "all_calls": hard, "count": count}
        self.chaos.throttles.append(stretch)
        return stretch

    # ------------------------------------------------------------------ the run
    def run(self) -> dict[str, Any]:
        s = self.settings
        self.fleet = TeamFleetProcess(
            workers=s.workers, regions=["us-east-1", "us-west-2"], seed=s.seed, refresh=s.refresh
        )
        info = self.fleet.start()
        try:
            return self._run(info)
        finally:
            for engine in self.engines:
                if engine.process is not None and engine.process.poll() is None:
                    engine.process.kill()
                    engine.process.wait()
            self.fleet.stop()

    def _run(self, info: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        fleet = self.fleet
        assert fleet is not None
        worker_ids = [w["worker_id"] for w in info["workers"]]
        self.plan = make_plan(s, worker_ids)
        if s.plan_processes is not None:
            for slot in self.plan:
                slot["actions"] = {
                    k: v for k, v in slot["actions"].items() if int(k) < s.plan_processes
                }
        fleet.reset_counts()
        lease = lease_client(info, attempts=1)
        self.start_epoch = time.time()
        self.engines = [Engine(i, self.folder / f"engine{i + 1}") for i in range(s.processes)]
        for engine in self.engines:
            self._launch(engine)
        next_kill = self.rng.uniform(*s.kill_every)
        next_throttle = self.rng.uniform(*s.throttle_every) / 2
        stretch: dict[str, Any] | None = None
        window: dict[str, Any] = {}
        while (now := time.time() - self.start_epoch) < s.seconds:
            holder, expires = read_lease(lease, info["table"])
            if holder and expires is not None:
                self.lease_expiry[holder] = expires - self.start_epoch
            self._watch_lease(now, holder)
            in_chaos = now < s.chaos_end
            if s.throttles and (stretch is not None or (in_chaos and now >= next_throttle)):
                stretch = self._throttle(now, stretch)
                if stretch is None:
                    next_throttle = now + self.rng.uniform(*s.throttle_every)
            if s.kills and in_chaos and now >= next_kill:
                self._kill(now, holder)
                next_kill = now + self.rng.uniform(*s.kill_every)
            self._restart_due(now)
            if not window and now >= s.seconds - s.measure_seconds:
                fleet.call("dynamodb_clear")
                window = {
                    "t": now,
                    "start": fleet.call("cml_by_worker"),
                    "holder": holder,
                    "running": len(fleet.call("running_instances")),
                }
            time.sleep(0.5)
        fleet.call("dynamodb_clear")
        end = fleet.call("cml_by_worker") if window else {}
        measured = cml_window(window, end, time.time() - self.start_epoch, s.refresh)
        stopped = self._stop_engines()
        figures = self._check(info, stopped)
        figures["cml_window"] = measured
        return figures

    def _stop_engines(self) -> list[dict[str, Any]]:
        for engine in self.engines:
            self._restart_if_down(engine)
        for engine in self.engines:
            if engine.process is not None:
                engine.process.send_signal(signal.SIGTERM)
        stopped = []
        for engine in self.engines:
            code = None
            if engine.process is not None:
                try:
                    code = engine.process.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    engine.process.kill()
                    code = engine.process.wait()
            clean = last_status(engine.folder)
            stopped.append(
                {"engine": engine.index + 1, "exit": code, "starts": engine.starts, **clean}
            )
        return stopped

    def _restart_if_down(self, engine: Engine) -> None:
        if engine.process is None:  # killed just before the end: bring it back to stop it
            self._launch(engine)
            time.sleep(3.0)

    def _check(self, info: dict[str, Any], stopped: list[dict[str, Any]]) -> dict[str, Any]:
        assert self.fleet is not None
        client = lease_client(info)
        workers = scan_table(client, info["table"])
        committed = read_commit_logs([e.folder for e in self.engines])
        stop_requests = {
            instance_id: n
            for action, instance_id, n in self.fleet.call("instance_requests")
            if action == "StopInstances"
        }
        events = check_events(workers, committed)
        replay = check_replay(client, info["table"])
        automatic = check_automatic(workers, stop_requests)
        lease_ok, lease = self._lease_figures()
        clean = all(e["exit"] == 0 and e.get("clean") for e in stopped)
        return {
            "label": self.label,
            "processes": self.settings.processes,
            "checks": {
                "events": events,
                "replay": replay,
                "automatic": automatic,
                "lease": {"ok": lease_ok, **lease},
                "clean_stop": {"ok": clean, "engines": stopped},
                "engine_errors": log_errors([e.folder for e in self.engines]),
                "action_errors": action_errors([e.folder for e in self.engines]),
            },
            "chaos": {
                "kills": len(self.chaos.kills),
                "holder_kills": sum(k["was_lease_holder"] for k in self.chaos.kills),
                "kill_list": self.chaos.kills,
                "lease_changes": self.chaos.lease_changes,
                "throttle_stretches": len(self.chaos.throttles),
                "throttled_seconds": round(
                    sum(t["until"] - t["t"] for t in self.chaos.throttles), 1
                ),
                "actions": count_actions([e.folder for e in self.engines]),
                "dynamodb_calls": self.fleet.call("dynamodb_counts"),
            },
            "folder": str(self.folder),
        }

    def _lease_figures(self) -> tuple[bool, dict[str, Any]]:
        """A killed holder's lease ends within one lease period (its last renewal said so), and
        a successor takes it at its next CML cycles after that (throttled calls retried)."""
        s = self.settings
        grace = 3 * s.refresh["cml_seconds"] + 10.0
        kills = [k for k in self.chaos.kills if k["was_lease_holder"]]
        late = [
            k
            for k in kills
            if k["taken_over_after"] is None
            or (k["lease_expires_in"] or 0.0) > s.lease_seconds + 1.0
            or k["taken_over_after"] > (k["lease_expires_in"] or s.lease_seconds) + grace
        ]
        return not late, {
            "lease_seconds": s.lease_seconds,
            "grace_after_expiry_seconds": grace,
            "takeover_seconds": [k["taken_over_after"] for k in kills],
            "lease_left_at_kill_seconds": [k["lease_expires_in"] for k in kills],
            "holders_seen": len({c["holder"] for c in self.chaos.lease_changes if c["holder"]}),
        }
