"""bench/team.py's settings and plan (which operator does what, when), and small helpers of a
run: reading the lease item, the engines' status and action logs, the CML window's figures."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: cmltui's lease period on a shared store: max(60 s, 3 EC2 intervals) (``idle_runner``).
MIN_LEASE_SECONDS = 60.0
#: The fleet's worker kinds repeat every 8 (``cmltui.demo.fleet._WORKER_MIX``); these are
#: contested: an idle one, a stopped one, one with labs, the other idle one.
CONTESTED_INDEXES = (1, 2, 3, 7)
ACTIONS = ("start", "stop", "opt-out", "opt-in")
ACTION_WEIGHTS = (0.4, 0.4, 0.1, 0.1)


@dataclass
class RunSettings:
    processes: int
    workers: int
    seconds: float
    measure_seconds: float
    seed: int
    kills: bool
    throttles: bool
    refresh: dict[str, float]
    idle_minutes: int = 1
    action_every: float = 4.0
    kill_every: tuple[float, float] = (18.0, 32.0)
    throttle_every: tuple[float, float] = (12.0, 24.0)
    #: Which processes' planned actions run (None: all); the baseline takes process 0's.
    plan_processes: int | None = None

    @property
    def lease_seconds(self) -> float:
        return max(MIN_LEASE_SECONDS, 3 * self.refresh["ec2_seconds"])

    @property
    def chaos_end(self) -> float:
        return max(0.0, self.seconds - self.measure_seconds - 10.0)


def make_plan(settings: RunSettings, worker_ids: list[str]) -> list[dict[str, Any]]:
    """Slots every ``action_every`` s: one contested worker, an action per process at about
    the same instant (so two of them often act on one worker at once)."""
    rng = random.Random(settings.seed)
    contested = [worker_ids[i] for i in CONTESTED_INDEXES if i < len(worker_ids)] or worker_ids
    plan: list[dict[str, Any]] = []
    t = 3.0
    while t < settings.chaos_end - 2.0:
        actions = {
            str(p): rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
            for p in range(settings.processes)
            if rng.random() < 0.8
        }
        plan.append({"t": round(t, 2), "worker_id": rng.choice(contested), "actions": actions})
        t += rng.uniform(0.6, 1.4) * settings.action_every
    return plan


def lease_client(info: dict[str, Any], attempts: int = 8) -> Any:
    """A DynamoDB client on the run's moto server (``attempts=1`` for the watcher: a throttled
    look must not hold the run's loop in botocore's back-off)."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.Session(
        aws_access_key_id="cmltui-bench", aws_secret_access_key="cmltui-bench"
    ).client(
        "dynamodb",
        region_name=info["region"],
        endpoint_url=info["aws_endpoint_url"],
        config=BotoConfig(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def read_lease(client: Any, table: str) -> tuple[str | None, float | None]:
    """(holder, expiry as epoch seconds) of the lease item; holder "" when free, None when the
    read failed (throttled: the next look tells)."""
    from datetime import datetime

    try:
        item = client.get_item(
            TableName=table, Key={"pk": {"S": "META"}, "sk": {"S": "LEASE"}}, ConsistentRead=True
        ).get("Item")
    except Exception:
        return None, None
    if not item or not item["holder"]["S"]:
        return "", None
    try:
        expires = datetime.fromisoformat(item["expires_at"]["S"]).timestamp()
    except (KeyError, ValueError):
        expires = None
    return item["holder"]["S"], expires


def last_status(folder: Path) -> dict[str, Any]:
    path = folder / "status.jsonl"
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines[::-1]:
        record = json.loads(line)
        if "clean" in record:
            return {"clean": True, "pending_write": record["pending_write"]}
        if "close_failed" in record:
            return {"clean": False, "error": record["error"][:300]}
    return {"clean": False}


def action_errors(folders: list[Path]) -> dict[str, Any]:
    """Planned actions whose controller method raised instead of returning its result."""
    errors: list[str] = []
    for folder in folders:
        path = folder / "actions.jsonl"
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                if "error" in record:
                    errors.append(
                        f"{folder.name} t={record['t']} {record['action']}: {record['error']}"
                    )
    return {"ok": not errors, "count": len(errors), "first": errors[:6]}


def count_actions(folders: list[Path]) -> dict[str, int]:
    counts = {"planned_done": 0, "refused": 0, "failed": 0, "errors": 0}
    for folder in folders:
        path = folder / "actions.jsonl"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            counts["planned_done"] += bool(record.get("done"))
            counts["refused"] += bool(record.get("refused"))
            counts["failed"] += bool(record.get("failed"))
            counts["errors"] += "error" in record
    return counts


def cml_window(
    window: dict[str, Any], end: dict[str, int], now: float, refresh: dict[str, float]
) -> dict[str, Any]:
    """CML requests in the window, per CML interval, and per polled worker and interval."""
    if not window:
        return {}
    seconds = now - window["t"]
    start = window["start"]
    by_worker = {k: end.get(k, 0) - start.get(k, 0) for k in end}
    requests = sum(by_worker.values())
    polled = sum(1 for n in by_worker.values() if n > 0)
    cycles = seconds / refresh["cml_seconds"]
    return {
        "running_at_start": window.get("running"),
        "lease_holder_at_start": window.get("holder"),
        "seconds": round(seconds, 1),
        "cml_cycles": round(cycles, 2),
        "cml_requests": requests,
        "workers_polled": polled,
        "per_cycle": round(requests / cycles, 2) if cycles else None,
        "per_worker_cycle": round(requests / cycles / polled, 3) if cycles and polled else None,
    }


def log_errors(folders: list[Path]) -> dict[str, Any]:
    """Unexpected errors cmltui logged in the engines (a loop's "failed unexpectedly" and any
    other ERROR line): a defect, whatever the checks on the table say."""
    lines: list[str] = []
    for folder in folders:
        path = folder / "log" / "cmltui.log"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if " ERROR " in line or " CRITICAL " in line or line.startswith("cmltui."):
                lines.append(f"{folder.name}: {line[:240]}")
    return {"ok": not lines, "count": len(lines), "first": lines[:6]}
