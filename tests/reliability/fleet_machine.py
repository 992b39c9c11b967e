"""A model-based test of fleet truth (issue 11, item 8): EC2 changed from outside, at random.

``FleetModel`` is a ``hypothesis.stateful.RuleBasedStateMachine`` that drives the real
controller (real ``AwsGateway`` on moto's server over HTTP, real ``CmlApiClientPool`` on the
project's fake CML server over HTTPS, a real store file in a fresh folder per example, a
``FrozenClock``) while a "colleague" changes EC2 with plain boto3 calls, as the EC2 console
and other tools do: run managed and unmanaged instances, start, stop, terminate, "Launch more
like this" (a new instance with a copy of the tags), remove and re-add the managed tag, and
rename to blank, odd and look-alike names.

Every rule is followed by the invariants; refreshes and actions check their own contracts.
The checks are pure functions over plain values (``check_*``, returning a list of violations)
so that ``test_fleet_model.py`` can show that each of them fails on a bad fleet.

``FleetModel.parts`` (the servers) is set by whoever runs the machine: the pytest test or
``scripts/fleet_model.py``. ``FleetModel.stats`` counts examples, steps and checks.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import boto3
from botocore.config import Config as BotoConfig
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from cmltui.aws.dto import WORKER_ID_TAG
from cmltui.aws.gateway import AwsGateway
from cmltui.cml.pool import CmlApiClientPool
from cmltui.config import AwsConfig, Config, IdleConfig, RefreshConfig
from cmltui.demo.fake_cml import FakeCmlServer
from cmltui.demo.moto_server import MotoServer
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, status_from_ec2_state
from cmltui.domain.names import name_key, name_problem, normalize_name
from cmltui.services.controller import FleetController
from cmltui.services.reconciler import NEW_INSTANCE_GRACE
from cmltui.store import open_store
from tests.fixtures.cml_fixtures import make_cml_settings
from tests.fixtures.moto_fixtures import CML_AMI_NAME, MOTO_REGIONS

REGIONS = MOTO_REGIONS
MANAGED_KEY = AwsConfig().managed_tag_key
USER = "model"
#: What EC2 shows once an action is done (moto jumps straight to the end state).
EFFECT = {"start": "running", "stop": "stopped", "terminate": "terminated"}
#: The status cmltui shows for a worker whose action EC2 accepted, until EC2 confirms.
MARKED = {
    "start": CMLWorkerStatus.PENDING,
    "stop": CMLWorkerStatus.STOPPING,
    "terminate": CMLWorkerStatus.SHUTTING_DOWN,
}
COPY_WORDS = "carries the worker id of"

# ---------------------------------------------------------------------------- known defects
# Defects this machine found (each has its own test in test_fleet_model.py). A defect that is
# found and not yet fixed goes in KNOWN_DEFECTS (its test strict-xfail): the machine then steps
# around it, so that CI keeps guarding everything else, and ``scripts/fleet_model.py --strict``
# (or ``--check NAME``) looks for it again. Once fixed it moves to FIXED_DEFECTS: checked always.
#: An action given the same worker twice raises ActionRefusedError after the AWS call.
REPEATED_ID = "action-given-a-worker-twice"
#: discover() offers a copy terminated since the last refresh (stale conflict).
DISCOVER_TERMINATED = "discover-offers-a-terminated-copy"
#: discover() offers one instance twice (a copy that lost its managed tag since the last refresh).
DISCOVER_TWICE = "discover-offers-an-instance-twice"
#: discover() offers a detached worker's own instance as importable (import then refuses it).
DISCOVER_BOUND = "discover-offers-a-bound-instance-as-importable"
#: Defects the machine found, now fixed (kept named so a regression reads as what it is).
FIXED_DEFECTS = frozenset({REPEATED_ID, DISCOVER_TERMINATED, DISCOVER_TWICE, DISCOVER_BOUND})
KNOWN_DEFECTS: frozenset[str] = frozenset()

# ---------------------------------------------------------------------------- names
BASE_NAMES = ("cml-lab-01", "cml-lab-02", "Lab-A")
#: How a colleague's name can look: blank, odd, or like another one.
NAME_VARIANTS: dict[str, Callable[[str], str | None]] = {
    "plain": lambda n: n,
    "no Name tag": lambda n: None,
    "empty": lambda n: "",
    "blank": lambda n: "   ",
    "ideographic space": lambda n: "\u3000",
    "upper case": lambda n: n.upper(),
    "lower case": lambda n: n.lower(),
    "trailing spaces": lambda n: n + "  ",
    "leading space": lambda n: " " + n,
    "zero-width space": lambda n: n + "\u200b",
    "zero-width joiner inside": lambda n: n[:3] + "\u200d" + n[3:],
    "bidi override": lambda n: "\u202e" + n,
    "C1 CSI": lambda n: n + "\x9b31m",
    "tab inside": lambda n: n[:3] + "\t" + n[3:],
    "line separator": lambda n: n + "\u2028x",
    "fullwidth": lambda n: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in n),
}
#: A name: one of a few bases (so that look-alikes meet), sometimes numbered (a name no live
#: worker has yet), in one of the variants.
names = st.builds(
    lambda base, number, variant: NAME_VARIANTS[variant](
        base if number is None else f"{base}-{number}"
    ),
    st.sampled_from(BASE_NAMES),
    st.none() | st.integers(min_value=2, max_value=99),
    st.sampled_from(list(NAME_VARIANTS)),
)
#: Index into a list that shrinks towards its first element.
picks = st.integers(min_value=0, max_value=63)
subsets = st.lists(picks, max_size=4)


# ---------------------------------------------------------------------------- EC2 as moto says
@dataclass(frozen=True)
class Instance:
    """One instance as moto describes it (the truth the checks compare against)."""

    id: str
    region: str
    state: str
    tags: dict[str, str]

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_KEY) == "true"


def describe_all(clients: dict[str, Any]) -> dict[str, Instance]:
    """Every instance in every region, terminated ones included."""
    found: dict[str, Instance] = {}
    for region, ec2 in clients.items():
        for page in ec2.get_paginator("describe_instances").paginate():
            for reservation in page.get("Reservations", []):
                for raw in reservation.get("Instances", []):
                    tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
                    found[raw["InstanceId"]] = Instance(
                        raw["InstanceId"], region, raw["State"]["Name"], tags
                    )
    return found


def states_by_id(clients: dict[str, Any], ids_by_region: dict[str, list[str]]) -> dict[str, str]:
    """EC2 state of each instance, asked by id (an id EC2 does not know is left out)."""
    states: dict[str, str] = {}
    for region, ids in ids_by_region.items():
        if not ids:
            continue
        reply = clients[region].describe_instances(InstanceIds=sorted(set(ids)))
        for reservation in reply.get("Reservations", []):
            for raw in reservation.get("Instances", []):
                states[raw["InstanceId"]] = raw["State"]["Name"]
    return states


# ---------------------------------------------------------------------------- the checks
# Each takes plain values (worker snapshots or anything with the same attributes) and returns
# the violations it found; an empty list means the fleet is as it must be.


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


# ---------------------------------------------------------------------------- the machine
@dataclass
class Parts:
    """The servers a run shares across examples (each example resets them)."""

    moto: MotoServer
    cml: FakeCmlServer
    session: boto3.Session
    ca_file: Path
    password_env: str
    work_dir: Path


@dataclass
class Stats:
    examples: int = 0
    steps: int = 0
    checks: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    #: How often situations worth reaching were reached (copies, detached workers, ...).
    seen: dict[str, int] = field(default_factory=dict)


def make_config(parts: Parts, data_dir: Path) -> Config:
    return Config(
        regions=list(REGIONS),
        cml_worker_ami_names=dict.fromkeys(REGIONS, CML_AMI_NAME),
        aws=AwsConfig(
            endpoint_url=parts.moto.url,
            total_max_attempts=3,
            connect_timeout_seconds=2.0,
            read_timeout_seconds=10.0,
        ),
        data_dir=str(data_dir),
        cml=make_cml_settings(
            parts.ca_file,
            endpoint_template=parts.cml.endpoint_template,
            password_env=parts.password_env,
        ),
        refresh=RefreshConfig(ec2_seconds=1, cloudwatch_seconds=5, cml_seconds=1),
        idle=IdleConfig(threshold_minutes=30, auto_stop=False, snooze_minutes=60),
    )


class FleetModel(RuleBasedStateMachine):
    parts: ClassVar[Parts | None] = None
    stats: ClassVar[Stats] = Stats()
    #: Known defects the checks do not report (and the rules step around).
    tolerate: ClassVar[frozenset[str]] = KNOWN_DEFECTS

    def __init__(self) -> None:
        super().__init__()
        parts = self.parts
        assert parts is not None, "set FleetModel.parts first"
        type(self).stats.examples += 1
        parts.moto.reset()
        parts.cml.reset()
        self.loop = asyncio.new_event_loop()
        self.clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        self.data_dir = Path(tempfile.mkdtemp(prefix="fleet-model-", dir=parts.work_dir))
        self.config = make_config(parts, self.data_dir / "data")
        no_retries = BotoConfig(retries={"mode": "standard", "total_max_attempts": 1})
        self.ec2 = {
            region: parts.session.client(
                "ec2", region_name=region, endpoint_url=parts.moto.url, config=no_retries
            )
            for region in REGIONS
        }
        self.amis = {
            region: ec2.register_image(
                Name=CML_AMI_NAME, Description="CML worker", RootDeviceName="/dev/sda1"
            )["ImageId"]
            for region, ec2 in self.ec2.items()
        }
        self.store: Any = None
        self._view: dict[str, Instance] | None = None
        self.controller: FleetController | None = None
        self._open()
        #: Every instance launched, in launch order (picks index into it).
        self.instance_order: list[str] = []
        self.instance_region: dict[str, str] = {}
        #: Worker ids in the order first seen, and the instance each was bound to then.
        self.worker_order: list[str] = []
        self.bindings: dict[str, str | None] = {}
        self.serial = 0

    # -- plumbing -------------------------------------------------------------------------------
    def _open(self) -> None:
        self.store = open_store(self.config.data_path, clock=self.clock)
        self.controller = FleetController(
            self.config,
            self.store,
            AwsGateway(self.config, session=self.parts.session),
            CmlApiClientPool(self.config, clock=self.clock),
            clock=self.clock,
            user=USER,
        )
        self.run(self.controller.load())

    def _close(self) -> None:
        if self.controller is not None:
            self.run(self.controller.stop())
            self.controller = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def teardown(self) -> None:
        try:
            self._close()
        finally:
            self.loop.close()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @property
    def ctl(self) -> FleetController:
        assert self.controller is not None
        return self.controller

    def step(self, name: str, text: str) -> None:
        if name == "outside":
            self._view = None  # the colleague changed EC2
        stats = type(self).stats
        stats.steps += 1
        stats.rules[name] = stats.rules.get(name, 0) + 1
        note(f"[{name}] {text}")

    def seen(self, what: str, happened: object = True) -> None:
        if happened:
            seen = type(self).stats.seen
            seen[what] = seen.get(what, 0) + 1

    def expect(self, problems: list[str], examined: int = 1) -> None:
        type(self).stats.checks += max(examined, 1)
        assert not problems, "\n".join(problems)

    def workers(self) -> dict[str, Any]:
        return {w.id: w for w in self.ctl.workers()}

    def view(self, *, fresh: bool = False) -> dict[str, Instance]:
        """EC2 as moto says now; kept between steps while nothing could have changed it."""
        if fresh or self._view is None:
            self._view = describe_all(self.ec2)
        return self._view

    def pick_instance(self, pick: int, *, live: bool = False) -> str | None:
        ids = self.instance_order
        if live:
            view = self.view()
            ids = [i for i in ids if view[i].state != "terminated"]
        # From the newest: what a colleague just launched (a copy, say) is the likeliest to be
        # changed next, and picks shrink towards it.
        return ids[-1 - pick % len(ids)] if ids else None

    def pick_workers(self, chosen: Sequence[int]) -> list[str]:
        """Workers by index; the same one twice only when REPEATED_ID is not tolerated."""
        if not self.worker_order:
            return []
        given = [self.worker_order[p % len(self.worker_order)] for p in chosen]
        self.seen(f"situation reached: {REPEATED_ID}", len(set(given)) < len(given))
        return list(dict.fromkeys(given)) if REPEATED_ID in self.tolerate else given

    def _launch(self, region: str, tags: dict[str, str]) -> str:
        reply = self.ec2[region].run_instances(
            ImageId=self.amis[region],
            InstanceType="c5.2xlarge",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ]
            if tags
            else [],
        )
        instance_id = reply["Instances"][0]["InstanceId"]
        self._view = None
        self._known(instance_id, region)
        return instance_id

    def _known(self, instance_id: str, region: str) -> None:
        self.instance_order.append(instance_id)
        self.instance_region[instance_id] = region
        # Its CML controller, so that a full refresh polls a real (fake) CML over HTTPS.
        self.parts.cml.add_worker(instance_id, clock=self.clock, evolve=False)

    def _adopt_new_workers(self, allowed: bool, why: str) -> list[Any]:
        """Record the workers that appeared; fail if none may appear now."""
        current = self.ctl.workers()
        new = [w for w in current if w.id not in self.bindings]
        if new and not allowed:
            self.expect([f"workers appeared after {why}: {[w.id for w in new]}"])
        order = {iid: n for n, iid in enumerate(self.instance_order)}
        for worker in sorted(new, key=lambda w: order.get(w.aws_instance_id or "", 1 << 30)):
            self.worker_order.append(worker.id)
            self.bindings[worker.id] = worker.aws_instance_id
        return new

    # -- the fleet at the start: managed instances, seen by a first refresh ---------------------
    @initialize(fleet=st.lists(st.tuples(st.sampled_from(REGIONS), names), min_size=1, max_size=4))
    def initial_fleet(self, fleet: list[tuple[str, str | None]]) -> None:
        for region, name in fleet:
            self.serial += 1
            tags = {MANAGED_KEY: "true", WORKER_ID_TAG: f"outside-{self.serial}"}
            if name is not None:
                tags["Name"] = name
            self._launch(region, tags)
        self._refresh(3, full=False)

    # -- outside changes (a colleague with boto3) -----------------------------------------------
    @rule(region=st.sampled_from(REGIONS), name=names, with_id=st.booleans())
    def run_managed(self, region: str, name: str | None, with_id: bool) -> None:
        self.serial += 1
        tags = {MANAGED_KEY: "true"}
        if with_id:
            tags[WORKER_ID_TAG] = f"outside-{self.serial}"
        if name is not None:
            tags["Name"] = name
        instance_id = self._launch(region, tags)
        self.step("outside", f"run managed {instance_id} in {region} tags={tags}")

    @rule(region=st.sampled_from(REGIONS), name=names)
    def run_unmanaged(self, region: str, name: str | None) -> None:
        tags = {"cml:worker": "yes"}
        if name is not None:
            tags["Name"] = name
        instance_id = self._launch(region, tags)
        self.step("outside", f"run unmanaged {instance_id} in {region} tags={tags}")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks, how=st.sampled_from(["start", "stop", "terminate"]))
    def change_state(self, pick: int, how: str) -> None:
        # Only what EC2 allows: a terminated instance is never started or stopped again.
        instance_id = self.pick_instance(pick, live=how != "terminate")
        if instance_id is None:
            return
        ec2 = self.ec2[self.instance_region[instance_id]]
        getattr(ec2, f"{how}_instances")(InstanceIds=[instance_id])
        self.step("outside", f"{how} {instance_id}")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks, rename=st.none() | names)
    def launch_more_like_this(self, pick: int, rename: str | None) -> None:
        original = self.pick_instance(pick)
        assert original is not None
        region = self.instance_region[original]
        raw = self.ec2[region].describe_instances(InstanceIds=[original])["Reservations"][0][
            "Instances"
        ][0]
        tags = {
            t["Key"]: t["Value"] for t in raw.get("Tags", []) if not t["Key"].startswith("aws:")
        }
        if rename is not None:
            tags["Name"] = rename
        copy_id = self._launch(region, tags)
        self.step("outside", f"launch more like {original}: {copy_id} tags={tags}")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks, how=st.sampled_from(["delete", "false"]))
    def remove_managed_tag(self, pick: int, how: str) -> None:
        instance_id = self.pick_instance(pick)
        assert instance_id is not None
        ec2 = self.ec2[self.instance_region[instance_id]]
        if how == "delete":
            ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": MANAGED_KEY}])
        else:
            ec2.create_tags(Resources=[instance_id], Tags=[{"Key": MANAGED_KEY, "Value": "false"}])
        self.step("outside", f"managed tag of {instance_id}: {how}")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks)
    def add_managed_tag(self, pick: int) -> None:
        instance_id = self.pick_instance(pick)
        assert instance_id is not None
        ec2 = self.ec2[self.instance_region[instance_id]]
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": MANAGED_KEY, "Value": "true"}])
        self.step("outside", f"managed tag of {instance_id}: true")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks, name=names)
    def rename(self, pick: int, name: str | None) -> None:
        instance_id = self.pick_instance(pick)
        assert instance_id is not None
        ec2 = self.ec2[self.instance_region[instance_id]]
        if name is None:
            ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": "Name"}])
        else:
            ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": name}])
        self.step("outside", f"rename {instance_id} to {name!r}")

    # -- cmltui ---------------------------------------------------------------------------------
    @rule(minutes=st.sampled_from([0, 1, 3]))
    def refresh_ec2(self, minutes: int) -> None:
        """3 minutes is past the grace a new worker gets (NEW_INSTANCE_GRACE, 2 min)."""
        self._refresh(minutes, full=False)

    @rule(minutes=st.sampled_from([0, 3]))
    def refresh_everything(self, minutes: int) -> None:
        """EC2, then CloudWatch and CML together (the fake CML over HTTPS)."""
        self._refresh(minutes, full=True)

    def _refresh(self, minutes: int, *, full: bool) -> None:
        self.clock.advance(minutes=minutes)
        before = self.view()
        if full:
            self.run(self.ctl.refresh_once())
        else:
            self.run(self.ctl.refresh_ec2())
        after = self.view(fresh=True)
        self.step("refresh", f"+{minutes} min, {'full' if full else 'EC2'} refresh")
        self.expect(check_untouched(before, after, set(), "refresh"), len(before))
        new = self._adopt_new_workers(True, "a refresh")
        # A worker a refresh brings in is a managed instance's own: its worker id tag, if any.
        for worker in new:
            inst = after.get(worker.aws_instance_id or "")
            tagged = inst.tags.get(WORKER_ID_TAG) if inst else None
            self.expect(
                []
                if inst is not None and inst.managed and tagged in (None, worker.id)
                else [f"refresh brought in {worker.id} on {worker.aws_instance_id}: {inst}"]
            )
        workers = self.ctl.workers()
        errors = self.ctl.current().errors
        self.expect(
            check_refresh(workers, after, errors, self.clock(), REGIONS),
            len(after) + len(workers),
        )
        self.seen("refresh: a worker detached", any(w.detached for w in workers))
        self.seen("refresh: a copy shown", any("carries the worker id" in e.error for e in errors))
        self.seen(
            "refresh: a worker terminated",
            any(w.status == CMLWorkerStatus.TERMINATED for w in workers),
        )

    def _lifecycle(self, kind: str, chosen: Sequence[int]) -> None:
        given = self.pick_workers(chosen)
        workers_before = before_by_id = self.workers()
        before = self.view()
        method = getattr(self.ctl, f"{kind}_workers")
        result = self.run(method(given))
        after = self.view(fresh=True)
        self.step(
            kind,
            f"{kind} {[(w, before_by_id[w].name, before_by_id[w].aws_instance_id) for w in given]}"
            f" -> {result.summary()}",
        )
        self._adopt_new_workers(False, kind)
        self.seen(f"{kind}: done", result.done)
        self.seen(f"{kind}: failed", result.failed)
        self.seen(f"{kind}: refused", result.refused)
        self.expect(
            check_action(kind, given, workers_before, self.workers(), before, after, result),
            len(before),
        )

    @rule(chosen=subsets)
    def start_workers(self, chosen: list[int]) -> None:
        self._lifecycle("start", chosen)

    @rule(chosen=subsets)
    def stop_workers(self, chosen: list[int]) -> None:
        self._lifecycle("stop", chosen)

    @rule(chosen=subsets)
    def terminate_workers(self, chosen: list[int]) -> None:
        self._lifecycle("terminate", chosen)

    @rule(chosen=st.none() | subsets)
    def import_discovered(self, chosen: list[int] | None) -> None:
        offered = self.run(self.ctl.discover())
        before = self.view()
        workers_before = self.ctl.workers()
        bound = {w.aws_instance_id for w in workers_before if w.aws_instance_id}
        self.expect(check_discovered(offered, before, bound, self.tolerate), len(offered))
        kinds = {DISCOVER_TWICE, DISCOVER_TERMINATED, DISCOVER_BOUND}
        for kind in sorted(kinds & self.tolerate):
            if check_discovered(offered, before, bound, kinds - {kind}):
                self.seen(f"known defect reached: {kind}")
        if chosen is None:
            selection = list(offered)
        else:
            selection = [offered[p % len(offered)] for p in chosen] if offered else []
            selection = list({id(d): d for d in selection}.values())
        # Step around the known defects: an operator would not pick these if cmltui told.
        if DISCOVER_TERMINATED in self.tolerate:
            selection = [d for d in selection if before[d.aws_instance_id].state != "terminated"]
        if DISCOVER_TWICE in self.tolerate:
            selection = list({d.aws_instance_id: d for d in reversed(selection)}.values())[::-1]
        live_keys = {
            name_key(w.name) for w in workers_before if w.status != CMLWorkerStatus.TERMINATED
        }
        result = self.run(self.ctl.import_instances(selection))
        after = self.view(fresh=True)
        self.step(
            "import",
            f"offered {[(d.aws_instance_id, d.name, d.copy_of, d.problem) for d in offered]}; "
            f"chose {[d.aws_instance_id for d in selection]} -> {result.summary()}",
        )
        new = self._adopt_new_workers(True, "an import")
        self.seen("import: a copy offered", any(d.copy_of for d in offered))
        self.seen("import: done", result.done)
        self.seen("import: refused", result.refused)
        self.expect(
            check_import(selection, live_keys, bound, new, before, after, result),
            len(selection) + len(before),
        )

    @rule(chosen=subsets, only_detached=st.booleans())
    def reattach(self, chosen: list[int], only_detached: bool) -> None:
        workers = ws = self.workers()
        candidates = [w for w in self.worker_order if workers[w].detached] if only_detached else []
        pool = candidates or self.worker_order
        given = list(dict.fromkeys(pool[p % len(pool)] for p in chosen)) if pool else []
        before = self.view()
        result = self.run(self.ctl.reattach_workers(given))
        after = self.view(fresh=True)
        self.step(
            "reattach",
            f"{[(w, ws[w].name, ws[w].aws_instance_id, ws[w].detached) for w in given]}"
            f" -> {result.summary()}",
        )
        self._adopt_new_workers(False, "a re-tag")
        self.seen("re-tag: done", result.done)
        self.expect(
            check_reattach(given, workers, self.workers(), before, after, result), len(before)
        )

    @rule(name=names, region=st.sampled_from(REGIONS))
    def create(self, name: str | None, region: str) -> None:
        name = name or ""
        live_keys = {
            name_key(w.name) for w in self.ctl.workers() if w.status != CMLWorkerStatus.TERMINATED
        }
        before = self.view()
        result = self.run(self.ctl.create_worker(name, region))
        after = self.view(fresh=True)
        self.step("create", f"create {name!r} in {region} -> {result.summary()}")
        new = self._adopt_new_workers(True, "a create")
        self.seen("create: done", result.done)
        self.seen("create: refused", result.refused)
        self.expect(check_create(name, live_keys, new, before, after, result), len(before))
        for worker in new:  # its instance is one the colleague may change from now on
            iid = worker.aws_instance_id or ""
            self.instance_order.append(iid)
            self.instance_region[iid] = region
            self.parts.cml.add_worker(iid, clock=self.clock, evolve=False)

    @rule()
    def restart(self) -> None:
        """Quit cmltui and start it again on the same data file: the same fleet comes back."""

        def key(w: Any) -> tuple:
            return (w.id, w.name, w.region, w.aws_instance_id, w.status, w.created_at)

        before = sorted(key(w) for w in self.ctl.workers())
        self._close()
        self._open()
        after = sorted(key(w) for w in self.ctl.workers())
        self.step("restart", f"{len(before)} workers")
        self.expect([] if before == after else [f"restart: {before} became {after}"], len(before))

    # -- after every step -----------------------------------------------------------------------
    @invariant()
    def one_worker_one_instance(self) -> None:
        if self.controller is None:
            return
        workers = self.ctl.workers()
        self._adopt_new_workers(False, "a step that cannot add workers")
        self.expect(check_bindings(workers, self.bindings), len(workers))
        for worker in workers:
            events = self.ctl.events_for(worker.id, limit=10_000)
            self.expect(check_event_bindings(worker.id, worker.aws_instance_id, events))

    @invariant()
    def no_live_instance_behind_a_terminated_worker(self) -> None:
        if self.controller is None:
            return
        workers = self.ctl.workers()
        ids: dict[str, list[str]] = {}
        for w in workers:
            if w.status == CMLWorkerStatus.TERMINATED and w.aws_instance_id:
                ids.setdefault(w.region, []).append(w.aws_instance_id)
        self.expect(check_terminated_alive(workers, states_by_id(self.ec2, ids)), len(workers))

    @invariant()
    def figures_of_stopped_workers_are_not_live(self) -> None:
        if self.controller is None:
            return
        workers = self.ctl.workers()
        self.expect(check_not_live(workers), len(workers))
