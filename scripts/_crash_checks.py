"""Helpers of ``crash_kill.py --hold-answers``: hold AWS's answers, reconcile, check the trail.

* ``AnswerHolder`` keeps moto's fault wrapper holding every StopInstances, StartInstances,
  TerminateInstances and RunInstances request for a random time before moto answers it (the call
  went out; its answer is not back yet), and notes when each held request arrived, so the parent
  can tell which kills landed while its child's answer was held.
* ``final_reconciliation`` is what the next cmltui does after the last kill: a fresh controller
  refreshes once with the real clock, then once with its clock 16 minutes ahead (past the 15 min
  wait for a pending action), so that every intent ends with an outcome.
* ``check_trail`` reads the data file and checks: 0 actions without an actor, every intent has an
  outcome (or is its worker's pending action), no event recorded twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REQUESTED = "cmltui.worker.action-requested.v1"
COMPLETED = "cmltui.worker.action-completed.v1"
STATUS = "cmltui.worker.status-updated.v1"
CREATED = "cmltui.worker.created.v1"
TERMINATED = "cmltui.worker.terminated.v1"

HELD_ACTIONS = ("StopInstances", "StartInstances", "TerminateInstances", "RunInstances")
#: Each EC2 status belongs to the family of the action that leads to it; entering a family is
#: the action's effect (running -> stopping), moving inside it is EC2's progress (-> stopped).
FAMILY = {
    "pending": "start",
    "running": "start",
    "stopping": "stop",
    "stopped": "stop",
    "shutting-down": "terminate",
    "terminated": "terminate",
}
#: The action that asks for each family (auto-stop is a stop by the idle policy).
ASKS_FOR = {"start": "start", "stop": "stop", "auto-stop": "stop", "terminate": "terminate"}
#: How long the reconciler's clock jumps ahead: past the 15 min wait for a pending action.
EXPIRY_JUMP = timedelta(minutes=16)


# ---------------------------------------------------------------------------- holding answers
@dataclass
class _Held:
    action: str
    arrived_after: float  # monotonic: the request had not arrived yet (the poll before)
    arrived_by: float  # monotonic: the request had arrived (the poll that saw it)
    seconds: float

    def surely_held_at(self, moment: float) -> bool:
        """True when the request was surely held at ``moment`` (arrived, not yet answered)."""
        return self.arrived_by <= moment < self.arrived_after + self.seconds


class AnswerHolder:
    """Keeps a few ``slow`` faults armed per lifecycle action, each with its own random hold.

    The wrapper consumes faults in the order they were armed, one per matching request, so the
    n-th request of an action is held for the n-th duration armed for it.
    """

    AHEAD = 3

    def __init__(self, faults: Any, rng: Any, low: float, high: float, poll: float = 0.005):
        self._faults = faults
        self._rng = rng
        self._low, self._high = low, high
        self._poll = poll
        self._base = {a: faults.request_counts[("ec2", a)] for a in HELD_ACTIONS}
        self._durations: dict[str, list[float]] = {a: [] for a in HELD_ACTIONS}
        self._seen = dict.fromkeys(HELD_ACTIONS, 0)
        self._lock = threading.Lock()
        self.held: list[_Held] = []
        self._stop = threading.Event()
        for action in HELD_ACTIONS:
            self._top_up(action)
        self._thread = threading.Thread(target=self._run, name="answer-holder", daemon=True)
        self._thread.start()

    def _top_up(self, action: str) -> None:
        while len(self._durations[action]) - self._seen[action] < self.AHEAD:
            seconds = self._rng.uniform(self._low, self._high)
            self._durations[action].append(seconds)
            self._faults.slow("ec2", seconds=seconds, count=1, action=action)

    def _run(self) -> None:
        previous = time.monotonic()
        while not self._stop.wait(self._poll):
            now = time.monotonic()
            for action in HELD_ACTIONS:
                count = self._faults.request_counts[("ec2", action)] - self._base[action]
                while self._seen[action] < count:
                    seconds = self._durations[action][self._seen[action]]
                    self._seen[action] += 1
                    with self._lock:
                        self.held.append(_Held(action, previous, now, seconds))
                self._top_up(action)
            previous = now

    def held_at(self, moment: float, since: float) -> str | None:
        """The action whose answer was surely held at ``moment``, sent after ``since``."""
        with self._lock:
            for held in reversed(self.held):
                if held.arrived_after >= since and held.surely_held_at(moment):
                    return held.action
        return None

    @property
    def requests(self) -> Counter[str]:
        return Counter({a: self._seen[a] for a in HELD_ACTIONS})

    def release(self, timeout: float = 30.0) -> None:
        """Stop arming, answer every held request now, and wait until moto has answered."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._faults.clear()
        deadline = time.monotonic() + timeout
        while self._faults.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)


# ---------------------------------------------------------------------------- reconciliation
class ShiftedClock:
    """The real UTC clock plus an offset the reconciler moves forward."""

    def __init__(self) -> None:
        from cmltui.domain.clock import utc_now

        self._now = utc_now
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self._now() + self.offset


def _pending_tokens(data_dir: Path) -> dict[str, str]:
    """Open (unanswered) intents' tokens -> worker id."""
    from cmltui.store import open_store

    store = open_store(data_dir, read_only=True)
    try:
        return {
            action.request_token: w.id
            for w in store.all_workers()
            for action in w.state.open_actions()
        }
    finally:
        store.close()


def final_reconciliation(config_path: Path, actor: str) -> dict:
    """A fresh cmltui after the last kill: refresh with the real clock, then past the wait."""
    from cmltui.config import load_config
    from cmltui.wiring import build_runtime

    config, _, _ = load_config(config_path)
    clock = ShiftedClock()

    async def run() -> dict:
        runtime = build_runtime(config, clock=clock, user=actor)
        controller = runtime.controller
        try:
            first = await controller.refresh_once()
            still_pending = _pending_tokens(config.data_path)
            clock.offset = EXPIRY_JUMP
            second = await controller.refresh_once()
        finally:
            await controller.stop()
            runtime.store.close()
        errors = [*first.errors, *second.errors]
        return {
            "pending_after_real_time_refresh": len(still_pending),
            "pending_after_expiry": len(_pending_tokens(config.data_path)),
            # The fake CML has no controller for workers created during the run: 404s.
            "reconcile_cml_errors": sum(e.startswith("cml:") for e in errors),
            "reconcile_other_errors": [e for e in errors if not e.startswith("cml:")],
        }

    return asyncio.run(run())


def leaked_instances(endpoint_url: str, regions: list[str], data_dir: Path) -> list[str]:
    """Managed instances EC2 runs or keeps stopped that no live worker is bound to."""
    import boto3

    from cmltui.store import open_store

    store = open_store(data_dir, read_only=True)
    try:
        bound = {w.state.aws_instance_id for w in store.all_workers() if not w.is_terminated}
    finally:
        store.close()
    session = boto3.Session(aws_access_key_id="cmltui-demo", aws_secret_access_key="cmltui-demo")
    leaked = []
    for region in regions:
        ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint_url)
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                }
            ]
        )
        for page in pages:
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    if instance["InstanceId"] not in bound:
                        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                        leaked.append(f"{region} {instance['InstanceId']} {tags.get('Name')}")
    return leaked


# ---------------------------------------------------------------------------- the trail
@dataclass
class TrailCheck:
    events: int = 0
    intents: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    not_observed: Counter = field(default_factory=Counter)
    intents_pending: int = 0
    intents_without_outcome: int = 0
    actions_checked: int = 0
    actions_without_actor: int = 0
    creates_checked: int = 0
    duplicated_events: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "events": self.events,
            "intents": sum(self.intents.values()),
            "intents_by_action": dict(sorted(self.intents.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
            "not_observed_because": dict(sorted(self.not_observed.items())),
            "intents_confirmed_after_a_kill": self.outcomes["confirmed"],
            "intents_still_pending": self.intents_pending,
            "intents_without_outcome": self.intents_without_outcome,
            "status_changes_checked_against_their_intent": self.actions_checked,
            "creates_checked": self.creates_checked,
            "actions_without_actor": self.actions_without_actor,
            "duplicated_events": self.duplicated_events,
        }


def check_trail(data_dir: Path) -> TrailCheck:
    from cmltui.store import open_store

    store = open_store(data_dir, read_only=True)
    result = TrailCheck()
    try:
        envelopes = store.events(limit=None)
        workers = {w.id: w for w in store.all_workers()}
    finally:
        store.close()
    result.events = len(envelopes)
    ids = Counter(e.id for e in envelopes)
    twice = [i for i, n in ids.items() if n > 1]
    if twice:
        result.duplicated_events += len(twice)
        result.problems.append(f"{len(twice)} event ids recorded twice, e.g. {twice[:3]}")
    by_worker: dict[str, list] = {}
    for envelope in envelopes:
        by_worker.setdefault(envelope.subject, []).append(envelope)
    for worker_id, trail in by_worker.items():
        worker = workers.get(worker_id)
        open_tokens = (
            {a.request_token for a in worker.state.open_actions()} if worker is not None else set()
        )
        _check_worker(worker_id, trail, open_tokens, result)
    return result


def _check_worker(worker_id: str, trail: list, open_tokens: set[str], out: TrailCheck) -> None:
    short = worker_id if len(worker_id) <= 12 else worker_id[:8]
    # Intents that may still take effect, per family: (token, actor). A failed call had none.
    asking: dict[str, dict[str, str | None]] = {"start": {}, "stop": {}, "terminate": {}}
    terminate_actors: set[str | None] = set()
    creators: dict[str, str | None] = {}
    done: set[str] = set()
    statuses: list[tuple[str, str]] = []
    for e in trail:
        data = e.data
        if e.type == REQUESTED:
            out.intents[data["action"]] += 1
            family = ASKS_FOR.get(data["action"])
            if family:
                asking[family][data["request_token"]] = data["requested_by"]
            if data["action"] == "create":
                creators[data["request_token"]] = data["requested_by"]
        elif e.type == COMPLETED:
            out.outcomes[data["outcome"]] += 1
            if data["outcome"] == "not-observed":
                why = "superseded" if (data["detail"] or "").startswith("superseded") else "expired"
                out.not_observed[why] += 1
            done.add(data["request_token"])
            if data["outcome"] == "failed":
                for family in asking.values():
                    family.pop(data["request_token"], None)
        elif e.type == STATUS:
            old, new = data["old_status"], data["new_status"]
            if statuses and statuses[-1] == (old, new):
                out.duplicated_events += 1
                out.problems.append(f"{short}: {old}->{new} recorded twice in a row")
            statuses.append((old, new))
            family = FAMILY.get(new)
            if family is None or family == FAMILY.get(old):
                continue  # EC2's progress inside a family, or an unknown status
            askers = asking[family]
            if askers:
                out.actions_checked += 1
                if data["changed_by"] not in askers.values():
                    out.actions_without_actor += 1
                    out.problems.append(
                        f"{short}: {old}->{new} by {data['changed_by']!r}, asked by "
                        f"{sorted(map(str, askers.values()))}"
                    )
                elif family == "terminate":  # its terminated_by is checked next (once)
                    terminate_actors = set(askers.values())
                askers.clear()
            elif data["changed_by"] is None:
                out.actions_without_actor += 1
                out.problems.append(f"{short}: {old}->{new} with no actor and no intent")
        elif (
            e.type == TERMINATED
            and terminate_actors
            and data["terminated_by"] not in terminate_actors
        ):
            out.actions_without_actor += 1
            out.problems.append(
                f"{short}: terminated_by {data['terminated_by']!r}, asked by "
                f"{sorted(map(str, terminate_actors))}"
            )
            terminate_actors = set()
    if creators:
        creator = next(iter(creators.values()))
        for e in trail:
            if e.type == CREATED:
                out.creates_checked += 1
                if e.data["created_by"] != creator:
                    out.actions_without_actor += 1
                    out.problems.append(
                        f"{short}: created_by {e.data['created_by']!r}, asked by {creator!r}"
                    )
    for e in trail:
        if e.type != REQUESTED or e.data["request_token"] in done:
            continue
        if e.data["request_token"] in open_tokens:
            out.intents_pending += 1
        else:
            out.intents_without_outcome += 1
            out.problems.append(f"{short}: {e.data['action']} intent has no outcome")
