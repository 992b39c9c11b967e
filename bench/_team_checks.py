"""bench/team.py's checks, made on the table once every engine has stopped:

1. no lost event: every event a process logged as committed is in the table at its version with
   its id (a telemetry event may have been folded into the worker's checkpoint: then its version
   is covered by one); no duplicated event: event ids are unique, and per worker the versions
   make 1..N (N the stored version) with no gap nor repeat, a checkpoint standing for the
   telemetry events it folded;
2. every worker's replay of its events from the table (``CMLWorker.from_events`` over the
   store's ``domain_events_for``) equals its stored state;
3. no automatic action taken twice: no two auto-stop events for one worker without a start
   between them; the auto-stop events match the auto-stop intents EC2 accepted; and the
   StopInstances requests moto received per instance lie between the stop intents answered and
   the stop intents recorded (operator stops and auto-stops; a process killed between its
   intent and its call sent nothing).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cmltui.domain.events import (
    CMLWorkerActionCompletedDomainEvent,
    CMLWorkerActionRequestedDomainEvent,
    CMLWorkerAutoStartedDomainEvent,
    CMLWorkerAutoStoppedDomainEvent,
    CMLWorkerCreatedDomainEvent,
    CMLWorkerStatusUpdatedDomainEvent,
    CMLWorkerTelemetryCompactedDomainEvent,
)
from cmltui.domain.worker import CMLWorker
from cmltui.store.dynamodb import DynamoDbWorkerRepository
from cmltui.store.dynamodb_schema import EVENT_PREFIX, STATE_SK, WORKER_PREFIX

_CHECKPOINT = CMLWorkerTelemetryCompactedDomainEvent.EVENT_TYPE
_CREATED = CMLWorkerCreatedDomainEvent.EVENT_TYPE
_AUTO_STOPPED = CMLWorkerAutoStoppedDomainEvent.EVENT_TYPE
_AUTO_STARTED = CMLWorkerAutoStartedDomainEvent.EVENT_TYPE
_STATUS = CMLWorkerStatusUpdatedDomainEvent.EVENT_TYPE
_REQUESTED = CMLWorkerActionRequestedDomainEvent.EVENT_TYPE
_COMPLETED = CMLWorkerActionCompletedDomainEvent.EVENT_TYPE
_STARTED_STATES = ("pending", "running")
#: Shown per failed check (the rest is counted).
SHOWN = 5


def scan_table(client: Any, table: str) -> dict[str, dict[str, Any]]:
    """worker id -> {"state": item or None, "events": {version: item}} (a consistent scan)."""
    workers: dict[str, dict[str, Any]] = defaultdict(lambda: {"state": None, "events": {}})
    query: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        reply = client.scan(**query)
        for item in reply.get("Items", []):
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if not pk.startswith(WORKER_PREFIX):
                continue
            entry = workers[pk[len(WORKER_PREFIX) :]]
            if sk == STATE_SK:
                entry["state"] = item
            elif sk.startswith(EVENT_PREFIX):
                entry["events"][int(sk[len(EVENT_PREFIX) :])] = item
        if not reply.get("LastEvaluatedKey"):
            return dict(workers)
        query["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def read_commit_logs(folders: list[Path]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for folder in folders:
        path = folder / "commits.jsonl"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line cut by SIGKILL mid-write was not acknowledged
    return records


def _envelope(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(item["envelope"]["S"])


def _increment(item: dict[str, Any]) -> int:
    if item["type"]["S"] != _CHECKPOINT:
        return 1
    return int(_envelope(item)["data"].get("compacted_events") or 1)


def check_events(
    workers: dict[str, dict[str, Any]], committed: list[dict[str, Any]]
) -> dict[str, Any]:
    """Check 1: no lost and no duplicated event."""
    problems: list[str] = []
    ids = Counter(item["event_id"]["S"] for w in workers.values() for item in w["events"].values())
    duplicated = [i for i, n in ids.items() if n > 1]
    problems += [f"event id {i} is stored {ids[i]} times" for i in duplicated]
    for worker_id, entry in workers.items():
        events = entry["events"]
        if not events:
            continue
        stored = int(entry["state"]["version"]["N"]) if entry["state"] else max(events)
        total = sum(_increment(item) for item in events.values())
        if total != stored or max(events) != stored:
            problems.append(
                f"{worker_id}: events add up to version {total} (newest at {max(events)}), "
                f"the record is at {stored}"
            )
        checkpoints = [v for v, item in events.items() if item["type"]["S"] == _CHECKPOINT]
        missing = set(range(1, stored + 1)) - set(events)
        folded = sum(_increment(events[v]) - 1 for v in checkpoints)
        if len(missing) != folded or (missing and max(missing) > max(checkpoints, default=0)):
            problems.append(
                f"{worker_id}: {len(missing)} versions missing, checkpoints stand for {folded}"
            )
    lost = 0
    for record in committed:
        entry = workers.get(record["w"])
        item = entry["events"].get(record["v"]) if entry else None
        if item is not None and item["event_id"]["S"] == record["id"]:
            continue
        folded_away = (
            record.get("telemetry")
            and entry is not None
            and item is None
            and any(
                v > record["v"] and i["type"]["S"] == _CHECKPOINT
                for v, i in entry["events"].items()
            )
        )
        if folded_away:
            continue
        lost += 1
        where = "nothing" if item is None else f"event {item['event_id']['S']}"
        problems.append(
            f"{record['w']} v{record['v']}: committed {record['type']} {record['id']}, "
            f"the table has {where} there"
        )
    return {
        "ok": not problems,
        "committed_logged": len(committed),
        "stored_events": sum(ids.values()),
        "lost": lost,
        "duplicated_ids": len(duplicated),
        "problems": problems[:SHOWN],
        "problem_count": len(problems),
    }


def check_replay(client: Any, table: str) -> dict[str, Any]:
    """Check 2: each worker's replay of its stored events equals its stored record."""
    store = DynamoDbWorkerRepository(client, table, read_only=True)
    problems: list[str] = []
    workers = store.all_workers()
    for worker in workers:
        events = store.domain_events_for(worker.id)
        try:
            replayed = CMLWorker.from_events(events).state
        except ValueError as err:
            problems.append(f"{worker.id}: replay failed: {err}")
            continue
        if replayed != worker.state:
            stored, again = worker.state.model_dump(), replayed.model_dump()
            fields = [k for k in stored if stored[k] != again.get(k)]
            shown = fields[:3]
            problems.append(
                f"{worker.id}: replay differs in {', '.join(fields)} (stored "
                f"{[stored[k] for k in shown]}, replay {[again[k] for k in shown]})"
            )
    return {
        "ok": not problems,
        "workers": len(workers),
        "problems": problems[:SHOWN],
        "problem_count": len(problems),
    }


def check_automatic(
    workers: dict[str, dict[str, Any]], stop_requests: dict[str, int]
) -> dict[str, Any]:
    """Check 3: no automatic action twice; auto-stops match EC2's StopInstances requests."""
    problems: list[str] = []
    auto_stops = auto_starts = intents_total = created_twice = completed_twice = 0
    moto_total = sum(stop_requests.values())
    for worker_id, entry in workers.items():
        ordered = [entry["events"][v] for v in sorted(entry["events"])]
        envelopes = [(item["type"]["S"], _envelope(item)["data"]) for item in ordered]
        armed = True  # an auto-stop is allowed until one happened, then again after a start
        intents: dict[str, str] = {}
        outcomes: dict[str, list[tuple[str, str]]] = defaultdict(list)
        auto_events = 0
        instance_id = None
        for kind, data in envelopes:
            if kind == _AUTO_STOPPED:
                auto_events += 1
                if not armed:
                    problems.append(f"{worker_id}: auto-stopped twice with no start between")
                armed = False
            elif kind == _AUTO_STARTED:
                auto_starts += 1
            elif kind == _STATUS and data.get("new_status") in _STARTED_STATES:
                armed = True
            elif kind == _REQUESTED and data.get("action") in ("stop", "auto-stop"):
                intents[data["request_token"]] = data["action"]
                instance_id = data.get("aws_instance_id") or instance_id
            elif kind == _COMPLETED and data.get("request_token") in intents:
                outcomes[data["request_token"]].append((data["outcome"], data.get("detail") or ""))
        created_twice += sum(1 for kind, _ in envelopes if kind == _CREATED) > 1
        completed_twice += sum(1 for done in outcomes.values() if len(done) > 1)
        auto_stops += auto_events
        intents_total += len(intents)
        accepted_auto = sum(
            1
            for t, a in intents.items()
            if a == "auto-stop" and any(o == "accepted" for o, _ in outcomes.get(t, []))
        )
        if accepted_auto != auto_events:
            trail = [
                f"{k.split('.')[2]}:{d.get('action') or d.get('new_status') or ''}"
                f"{'=' + d['outcome'] if 'outcome' in d else ''}"
                for k, d in envelopes
            ]
            problems.append(
                f"{worker_id}: {auto_events} auto-stop events, {accepted_auto} auto-stop "
                f"intents accepted by EC2 (trail: {' '.join(trail)[-600:]})"
            )
        # Answered by EC2: accepted, or failed for another reason than an unsaved intent
        # (then no call was sent).
        unsent = sum(
            1 for t in intents if any("intent was not saved" in d for _, d in outcomes.get(t, []))
        )
        answered = sum(
            1
            for t in intents
            if any(o in ("accepted", "failed") for o, _ in outcomes.get(t, []))
            and not any("intent was not saved" in d for _, d in outcomes.get(t, []))
        )
        seen = stop_requests.get(instance_id or "", 0)
        if instance_id and not answered <= seen <= len(intents) - unsent:
            problems.append(
                f"{worker_id}: EC2 received {seen} StopInstances for {instance_id}; "
                f"{answered} stop intents were answered, {len(intents) - unsent} recorded"
            )
    return {
        "ok": not problems,
        "auto_stops": auto_stops,
        "auto_starts": auto_starts,
        "stop_intents": intents_total,
        "stop_requests_at_ec2": moto_total,
        # Left by a version conflict's rebase (tests/store/test_team_rebase.py): reported.
        "workers_created_more_than_once": created_twice,
        "intents_completed_more_than_once": completed_twice,
        "problems": problems[:SHOWN],
        "problem_count": len(problems),
    }
