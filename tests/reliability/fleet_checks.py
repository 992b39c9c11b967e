"""The checks of the fleet model: pure functions over plain values (worker snapshots, or
anything with the same attributes, and ``Instance`` records), each returning the violations it
found; an empty list means the fleet is as it must be. ``test_fleet_model.py`` shows that each
of them fails on a bad fleet."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from cmltui.aws.dto import WORKER_ID_TAG
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, status_from_ec2_state
from cmltui.domain.names import name_key, name_problem, normalize_name
from cmltui.services.reconciler import NEW_INSTANCE_GRACE
from tests.reliability.fleet_world import (
    DISCOVER_BOUND,
    DISCOVER_TERMINATED,
    DISCOVER_TWICE,
    Instance,
)

#: What EC2 shows once an action is done (moto jumps straight to the end state).
EFFECT = {"start": "running", "stop": "stopped", "terminate": "terminated"}
#: The status cmltui shows for a worker whose action EC2 accepted, until EC2 confirms.
MARKED = {
    "start": CMLWorkerStatus.PENDING,
    "stop": CMLWorkerStatus.STOPPING,
    "terminate": CMLWorkerStatus.SHUTTING_DOWN,
}
COPY_WORDS = "carries the worker id of"


def check_bindings(workers: Sequence[Any], recorded: dict[str, str | None]) -> list[str]:
    """One worker, one instance: no instance bound twice, no recorded binding changed, no
    worker gone."""
    problems: list[str] = []
    owners: dict[str, str] = {}
    by_id = {w.id: w for w in workers}
    for worker in workers:
        iid = worker.aws_instance_id
        if iid:
            if iid in owners:
                problems.append(f"{iid} is bound to two workers: {owners[iid]} and {worker.id}")
            owners[iid] = worker.id
    for worker_id, iid in recorded.items():
        worker = by_id.get(worker_id)
        if worker is None:
            problems.append(f"worker {worker_id} (bound to {iid}) is gone")
        elif worker.aws_instance_id != iid:
            problems.append(
                f"worker {worker_id} was bound to {iid}, now to {worker.aws_instance_id} "
                "without an import"
            )
    return problems


def check_event_bindings(worker_id: str, binding: str | None, events: Iterable[Any]) -> list[str]:
    """The stored audit trail names the worker's one instance and no other."""
    problems = []
    for event in events:
        if event.type.rsplit(".", 2)[-2] not in ("created", "instance-assigned"):
            continue
        iid = event.data.get("aws_instance_id")
        if iid and iid != binding:
            problems.append(
                f"worker {worker_id}: stored event {event.type} names {iid}, bound to {binding}"
            )
    return problems


def check_terminated_alive(workers: Sequence[Any], states: dict[str, str]) -> list[str]:
    """No worker is TERMINATED while EC2 (asked by id) has its instance and it is not."""
    return [
        f"worker {w.id} ({w.name!r}) is TERMINATED but EC2 says {w.aws_instance_id} is "
        f"{states[w.aws_instance_id]}"
        for w in workers
        if w.status == CMLWorkerStatus.TERMINATED
        and w.aws_instance_id in states
        and states[w.aws_instance_id] != "terminated"
    ]


def check_not_live(workers: Sequence[Any]) -> list[str]:
    """Figures of a worker that is not running are never shown as live."""
    return [
        f"worker {w.id} is {w.status} but shows live figures"
        for w in workers
        if w.status != CMLWorkerStatus.RUNNING
        and (
            w.telemetry_live
            or w.cpu_utilization is not None
            or w.memory_utilization is not None
            or w.active_labs_count
            or w.service_status == CMLServiceStatus.AVAILABLE
        )
    ]


def check_untouched(
    before: dict[str, Instance], after: dict[str, Instance], allowed: set[str], what: str
) -> list[str]:
    """Only ``allowed`` instances changed (state or tags); none appeared or vanished."""
    problems = []
    if set(before) != set(after):
        problems.append(f"{what}: instances appeared or vanished: {set(before) ^ set(after)}")
    for iid in sorted(set(before) & set(after) - allowed):
        old, new = before[iid], after[iid]
        if (old.state, old.tags) != (new.state, new.tags):
            problems.append(
                f"{what} touched {iid}, which is no target: {old.state} -> {new.state}, "
                f"tags {old.tags} -> {new.tags}"
            )
    return problems


def action_targets(kind: str, given: Sequence[str], workers: dict[str, Any]) -> list[Any]:
    """The workers an action may reach: given, in a state that allows it, with an instance."""
    targets = []
    for worker_id in dict.fromkeys(given):
        worker = workers.get(worker_id)
        if worker is None or not worker.aws_instance_id:
            continue
        status = worker.status
        if (
            (kind == "start" and status == CMLWorkerStatus.STOPPED)
            or (kind == "stop" and status in (CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING))
            or (kind == "terminate" and status != CMLWorkerStatus.TERMINATED)
        ):
            targets.append(worker)
    return targets


def check_action(
    kind: str,
    given: Sequence[str],
    workers_before: dict[str, Any],
    workers_after: dict[str, Any],
    before: dict[str, Instance],
    after: dict[str, Instance],
    result: Any,
) -> list[str]:
    """The action touched exactly the instances bound to the workers it was given (and allowed
    by their state): each region's batch all done, or all failed and reported; every other
    instance, copies included, unchanged; the result and the workers' marks say so."""
    targets = action_targets(kind, given, workers_before)
    problems = check_untouched(
        before, after, {w.aws_instance_id for w in targets}, f"{kind} {list(given)}"
    )
    done = 0
    failed_regions = 0
    by_region: dict[str, list[Any]] = {}
    for worker in targets:
        by_region.setdefault(worker.region, []).append(worker)
    for region, region_targets in sorted(by_region.items()):
        ids = [w.aws_instance_id for w in region_targets]
        reached = [i for i in ids if after[i].state == EFFECT[kind]]
        unchanged = [i for i in ids if after[i].state == before[i].state]
        if len(reached) == len(ids):
            done += len(ids)
            for worker in region_targets:
                marked = workers_after[worker.id].status
                if marked not in (MARKED[kind], status_from_ec2_state(EFFECT[kind])):
                    problems.append(
                        f"{kind}: {worker.id} done but shows {marked}, not {MARKED[kind]}"
                    )
        elif len(unchanged) == len(ids):
            failed_regions += 1
        else:
            problems.append(
                f"{kind} in {region}: part of the batch {ids} reached {EFFECT[kind]}: "
                f"{[(i, after[i].state) for i in ids]}"
            )
    if len(result.done) != done:
        problems.append(f"{kind}: {done} instances reached {EFFECT[kind]}, done={result.done}")
    if failed_regions and not result.failed:
        problems.append(f"{kind}: a region's batch did nothing but nothing is reported failed")
    expected_refused = len([i for i in dict.fromkeys(given) if i in workers_before]) - len(targets)
    if len(result.refused) != expected_refused:
        problems.append(
            f"{kind}: {expected_refused} workers could not take it, refused={result.refused}"
        )
    return problems


def check_refresh(
    workers: Sequence[Any],
    ec2: dict[str, Instance],
    errors: Sequence[Any],
    now: datetime,
    regions: Sequence[str],
) -> list[str]:
    """After a refresh: every managed, non-terminated instance that is not a copy of a bound
    worker is bound and shows EC2's status; copies are shown as such; no per-instance problem
    and no region or loop error; a worker whose instance lost the managed tag is detached (and
    live), one whose instance has it is not, one whose instance is terminated is TERMINATED."""
    problems: list[str] = []
    by_instance = {w.aws_instance_id: w for w in workers if w.aws_instance_id}
    by_id = {w.id: w for w in workers}
    copies = []
    for inst in sorted(ec2.values(), key=lambda i: i.id):
        if not inst.managed or inst.state == "terminated":
            continue
        worker = by_instance.get(inst.id)
        if worker is None:
            owner = by_id.get(inst.tags.get(WORKER_ID_TAG, ""))
            if owner is not None and owner.aws_instance_id and owner.aws_instance_id != inst.id:
                copies.append(inst.id)
            else:
                problems.append(f"managed instance {inst.id} ({inst.state}) is bound to no worker")
            continue
        expected = status_from_ec2_state(inst.state)
        if worker.status != expected:
            problems.append(f"{worker.id} on {inst.id} shows {worker.status}, EC2 says {expected}")
    texts = [f"{e.source}: {e.error}" for e in errors]
    for copy_id in copies:
        if not any(copy_id in t and COPY_WORDS in t for t in texts):
            problems.append(f"copy {copy_id} is not shown as a conflict: {texts}")
    for text in texts:
        source = text.split(":", 1)[0]
        if (
            (source in regions and COPY_WORDS not in text)
            or source.endswith(" refresh")
            or source == "store"
        ):
            problems.append(f"the refresh left an error: {text}")
    for worker in workers:
        if worker.status == CMLWorkerStatus.TERMINATED or not worker.aws_instance_id:
            continue
        inst = ec2.get(worker.aws_instance_id)
        if inst is None:
            problems.append(f"{worker.id} is bound to {worker.aws_instance_id}, unknown to EC2")
            continue
        # Only a launch still pending (cmltui created it less than NEW_INSTANCE_GRACE ago and
        # EC2 may not list it yet) is not looked for outside the managed describe: no
        # expectation for it then. Any other worker is looked up by id at once.
        new = (
            worker.status == CMLWorkerStatus.PENDING
            and worker.created_at is not None
            and now - worker.created_at < NEW_INSTANCE_GRACE
        )
        if inst.state == "terminated":
            # Terminated and managed: the managed describe lists it. Terminated without the tag:
            # the by-id lookup finds it, once the worker is past the grace.
            if inst.managed or not new:
                problems.append(f"{worker.id} is {worker.status}: its {inst.id} is terminated")
            continue
        if inst.managed:
            if worker.detached:
                problems.append(f"{worker.id}: detached though {inst.id} is managed")
            continue
        if new:
            continue
        if not worker.detached:
            problems.append(f"{worker.id}: {inst.id} lost the managed tag, not shown detached")
        elif worker.status != status_from_ec2_state(inst.state):
            problems.append(f"detached {worker.id} shows {worker.status}, EC2 says {inst.state}")
    return problems


def check_discovered(
    offered: Sequence[Any],
    ec2: dict[str, Instance],
    bound: set[str],
    tolerate: Collection[str] = (),
) -> list[str]:
    """discover() offers each instance once, never a terminated one, never a bound one as
    importable (``tolerate``: known defects not to report, see ``KNOWN_DEFECTS``)."""
    problems = []
    seen: set[str] = set()
    for entry in offered:
        iid = entry.aws_instance_id
        if iid in seen and DISCOVER_TWICE not in tolerate:
            problems.append(f"discover offers {iid} twice")
        seen.add(iid)
        inst = ec2.get(iid)
        terminated = inst is not None and inst.state == "terminated"
        if terminated and DISCOVER_TERMINATED not in tolerate:
            problems.append(f"discover offers {iid}, terminated in EC2 (copy_of={entry.copy_of})")
        if iid in bound and entry.problem is None and DISCOVER_BOUND not in tolerate:
            problems.append(f"discover offers {iid} as importable, but a worker is bound to it")
    return problems


def check_import(
    chosen: Sequence[Any],
    live_keys_before: set[str],
    bound_before: set[str],
    new_workers: Sequence[Any],
    before: dict[str, Instance],
    after: dict[str, Instance],
    result: Any,
) -> list[str]:
    """Import binds exactly the importable chosen instances (one new worker each, a new id on
    the instance's tags), refuses the rest without tagging them, and changes nothing else."""
    problems = []
    keys = set(live_keys_before)
    expected: dict[str, str] = {}  # instance id -> name
    for entry in chosen:
        dto = entry.instance
        name = normalize_name(dto.name)
        key = name_key(name)
        if (
            dto.aws_instance_id in bound_before
            or not dto.has_name
            or name_problem(name) is not None
            or key in keys
        ):
            continue
        keys.add(key)
        expected[dto.aws_instance_id] = name
    got = {w.aws_instance_id: w for w in new_workers}
    if set(got) != set(expected):
        problems.append(
            f"import made workers for {sorted(got)}, expected {sorted(expected)}: "
            f"{result.summary()}"
        )
    for iid, worker in got.items():
        inst = after.get(iid)
        if inst is None or not inst.managed or inst.tags.get(WORKER_ID_TAG) != worker.id:
            problems.append(f"imported {iid} is not tagged managed with its worker id {worker.id}")
        if iid in expected and worker.name != expected[iid]:
            problems.append(f"imported {iid} named {worker.name!r}, expected {expected[iid]!r}")
        if inst is not None and worker.status != status_from_ec2_state(inst.state):
            problems.append(f"imported {iid} shows {worker.status}, EC2 says {inst.state}")
    if len(result.done) != len(expected):
        problems.append(f"import done={result.done}, expected {len(expected)}")
    problems += check_untouched(before, after, set(got), "import")
    return problems


def check_reattach(
    given: Sequence[str],
    workers_before: dict[str, Any],
    workers_after: dict[str, Any],
    before: dict[str, Instance],
    after: dict[str, Instance],
    result: Any,
) -> list[str]:
    """Re-tag puts the managed tag and the worker's own id back on exactly the detached given
    workers' instances (no longer shown detached) and refuses every other worker."""
    detached = [
        w
        for w in dict.fromkeys(given)
        if w in workers_before and workers_before[w].detached and workers_before[w].aws_instance_id
    ]
    problems = check_untouched(
        before, after, {workers_before[w].aws_instance_id for w in detached}, "re-tag"
    )
    for worker_id in detached:
        inst = after.get(workers_before[worker_id].aws_instance_id)
        if inst is None or not inst.managed or inst.tags.get(WORKER_ID_TAG) != worker_id:
            problems.append(f"re-tag of {worker_id}: its instance is {inst}")
        if workers_after[worker_id].detached:
            problems.append(f"re-tagged {worker_id} still shown detached")
    if len(result.done) != len(detached) or len(result.refused) != len(set(given)) - len(detached):
        problems.append(f"re-tag of {len(detached)} detached of {list(given)}: {result.summary()}")
    return problems


def check_create(
    name: str,
    live_keys: set[str],
    new_workers: Sequence[Any],
    before: dict[str, Instance],
    after: dict[str, Instance],
    result: Any,
) -> list[str]:
    """Create refuses a name that is unsafe, blank or a live worker's (by look-alike key) and
    launches nothing then; otherwise one new worker on one new managed instance carrying its
    id and its trimmed name. No other instance changes."""
    trimmed = normalize_name(name)
    acceptable = name_problem(trimmed) is None and name_key(trimmed) not in live_keys
    launched = sorted(set(after) - set(before))
    problems = check_untouched(before, {i: after[i] for i in before if i in after}, set(), "create")
    if (
        acceptable != result.ok
        or len(new_workers) != int(acceptable)
        or len(launched) != len(new_workers)
    ):
        problems.append(
            f"create {name!r}: acceptable={acceptable}, {result.summary()}, new workers "
            f"{[w.id for w in new_workers]}, launched {launched}"
        )
    for worker in new_workers:
        inst = after.get(worker.aws_instance_id or "")
        if inst is None or not inst.managed or inst.tags.get(WORKER_ID_TAG) != worker.id:
            problems.append(f"created {worker.id}: instance {inst}")
        elif worker.name != trimmed or inst.tags.get("Name") != trimmed:
            problems.append(f"created {worker.name!r}, Name tag {inst.tags.get('Name')!r}")
    return problems
