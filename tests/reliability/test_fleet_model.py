"""Issue 11, item 8: a model-based test of fleet truth against moto's server (hypothesis).

``FleetModel`` (tests/reliability/fleet_machine.py) interleaves a colleague's boto3 changes
(run, start, stop, terminate, "Launch more like this", managed tag removed and put back, blank,
odd and look-alike names) with refreshes and cmltui's actions, and checks after every step:
one worker one instance (bindings change only through import, stored events agree), no
TERMINATED worker on a live instance, each action touched exactly its workers' instances, each
refresh applied every well-formed instance (bound, EC2's status, copies shown, no problem),
detached as the model expects, and a restart brings back the same fleet.

CI runs a bounded, derandomized number of examples; ``scripts/fleet_model.py`` runs longer.
The tests after it show that every check fails on a fleet that breaks its rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from cmltui.aws.dto import WORKER_ID_TAG, CMLWorkerInstanceDto
from cmltui.demo.fake_cml import DEMO_PASSWORD, FakeCmlServer
from cmltui.demo.moto_server import MotoServer
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.services.snapshot import ActionResult, SourceHealth
from tests.fixtures.cml_fixtures import CML_TEST_PASSWORD_ENV
from tests.reliability.fleet_checks import (
    check_action,
    check_bindings,
    check_create,
    check_discovered,
    check_event_bindings,
    check_import,
    check_not_live,
    check_reattach,
    check_refresh,
    check_terminated_alive,
    check_untouched,
)
from tests.reliability.fleet_harness import Parts, Stats
from tests.reliability.fleet_machine import FleetModel
from tests.reliability.fleet_world import MANAGED_KEY, REGIONS, Instance

EAST, WEST = REGIONS

#: CI: bounded and reproducible (derandomized: the same examples on every run).
CI_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def fleet_parts(
    moto_server: MotoServer,
    aws_session: boto3.Session,
    fake_cml_server: FakeCmlServer,
    fake_cml_ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Parts]:
    monkeypatch.setenv(CML_TEST_PASSWORD_ENV, DEMO_PASSWORD)
    parts = Parts(
        moto=moto_server,
        cml=fake_cml_server,
        session=aws_session,
        ca_file=fake_cml_ca_file,
        password_env=CML_TEST_PASSWORD_ENV,
        work_dir=tmp_path,
    )
    FleetModel.parts = parts
    FleetModel.stats = Stats()
    try:
        yield parts
    finally:
        FleetModel.parts = None
        moto_server.reset()
        fake_cml_server.reset()


def test_fleet_model(fleet_parts: Parts) -> None:
    run_state_machine_as_test(FleetModel, settings=CI_SETTINGS)
    stats = FleetModel.stats
    # The run did what it says: many examples, steps of every kind, checks made.
    assert stats.examples >= CI_SETTINGS.max_examples
    assert stats.steps >= CI_SETTINGS.max_examples * 5, stats
    for rule in ("outside", "refresh", "start", "stop", "terminate", "import", "reattach"):
        assert stats.rules.get(rule, 0) > 0, stats.rules
    assert stats.checks > stats.steps, stats


# ---------------------------------------------------------------------------- checks can fail
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=1)


def worker(
    wid: str,
    iid: str | None,
    status: CMLWorkerStatus = CMLWorkerStatus.RUNNING,
    *,
    detached: bool = False,
    region: str = EAST,
    created_at: datetime = OLD,
    name: str | None = None,
    **extra: object,
) -> SimpleNamespace:
    figures = {
        "telemetry_live": False,
        "cpu_utilization": None,
        "memory_utilization": None,
        "active_labs_count": 0,
        "service_status": CMLServiceStatus.UNAVAILABLE,
    }
    figures.update(extra)
    return SimpleNamespace(
        id=wid,
        name=name or wid,
        aws_instance_id=iid,
        status=status,
        detached=detached,
        region=region,
        created_at=created_at,
        **figures,
    )


def instance(iid: str, state: str = "running", *, managed: bool = True, wid: str | None = None):
    tags = {MANAGED_KEY: "true"} if managed else {}
    if wid:
        tags[WORKER_ID_TAG] = wid
    return Instance(iid, EAST, state, tags)


def test_check_bindings_fails_on_a_double_binding_a_rebinding_and_a_lost_worker():
    assert check_bindings([worker("w1", "i-1"), worker("w2", "i-2")], {"w1": "i-1"}) == []
    assert check_bindings([worker("w1", "i-1"), worker("w2", "i-1")], {})
    assert check_bindings([worker("w1", "i-9")], {"w1": "i-1"})
    assert check_bindings([worker("w1", None)], {"w1": "i-1"})
    assert check_bindings([], {"w1": "i-1"})


def test_check_event_bindings_fails_on_a_stored_event_naming_another_instance():
    def event(kind: str, iid: str) -> SimpleNamespace:
        return SimpleNamespace(type=f"cmltui.worker.{kind}.v1", data={"aws_instance_id": iid})

    assert check_event_bindings("w1", "i-1", [event("created", "i-1")]) == []
    assert check_event_bindings("w1", "i-1", [event("instance-assigned", "i-2")])
    assert check_event_bindings("w1", "i-1", [event("created", "i-2")])


def test_check_terminated_alive_fails_on_a_terminated_worker_with_a_live_instance():
    terminated = worker("w1", "i-1", CMLWorkerStatus.TERMINATED)
    assert check_terminated_alive([terminated], {"i-1": "terminated"}) == []
    assert check_terminated_alive([terminated], {}) == []  # EC2 forgot it: gone
    assert check_terminated_alive([terminated], {"i-1": "stopped"})


def test_check_not_live_fails_on_figures_of_a_stopped_worker():
    assert check_not_live([worker("w1", "i-1", CMLWorkerStatus.STOPPED)]) == []
    assert check_not_live([worker("w1", "i-1", CMLWorkerStatus.STOPPED, cpu_utilization=3.0)])
    assert check_not_live(
        [worker("w1", "i-1", CMLWorkerStatus.STOPPED, service_status=CMLServiceStatus.AVAILABLE)]
    )


def test_check_action_fails_when_an_action_reaches_beyond_its_workers():
    workers = {"w1": worker("w1", "i-1"), "w2": worker("w2", "i-2")}
    marked = {"w1": worker("w1", "i-1", CMLWorkerStatus.STOPPING), "w2": workers["w2"]}
    copy = instance("i-3", wid="w1")
    before = {"i-1": instance("i-1"), "i-2": instance("i-2"), "i-3": copy}
    good = {**before, "i-1": instance("i-1", "stopped")}
    done = ActionResult("stop", done=("w1",))
    assert check_action("stop", ["w1"], workers, marked, before, good, done) == []
    # The copy stopped too; the other worker's instance stopped; the original did not.
    copy_hit = {**good, "i-3": instance("i-3", "stopped", wid="w1")}
    assert check_action("stop", ["w1"], workers, marked, before, copy_hit, done)
    other = {**before, "i-2": instance("i-2", "stopped")}
    assert check_action("stop", ["w1"], workers, marked, before, other, done)
    # Done, but the worker does not show it, or the result does not say it.
    assert check_action("stop", ["w1"], workers, workers, before, good, done)
    assert check_action("stop", ["w1"], workers, marked, before, good, ActionResult("stop"))
    # Nothing happened and nothing is reported failed.
    assert check_action("stop", ["w1"], workers, workers, before, before, ActionResult("stop"))
    # A worker that cannot be stopped is refused.
    stopped = {"w1": worker("w1", "i-1", CMLWorkerStatus.STOPPED)}
    assert check_action("stop", ["w1"], stopped, stopped, before, before, ActionResult("stop"))
    refused = ActionResult("stop", refused=("w1: it is stopped",))
    assert check_action("stop", ["w1"], stopped, stopped, before, before, refused) == []


def test_check_refresh_fails_on_each_broken_rule():
    def errors(*texts: str) -> list[SourceHealth]:
        return [SourceHealth(EAST, t, NOW) for t in texts]

    copy_error = "i-2 (x) carries the worker id of w1: a copy"
    ec2 = {"i-1": instance("i-1", wid="w1"), "i-2": instance("i-2", wid="w1")}
    fine = [worker("w1", "i-1")]
    assert check_refresh(fine, ec2, errors(copy_error), NOW, REGIONS) == []
    # The copy is not shown; a problem is left; the status is not EC2's.
    assert check_refresh(fine, ec2, [], NOW, REGIONS)
    assert check_refresh(fine, ec2, errors(copy_error, "i-1: not applied"), NOW, REGIONS)
    stale = [worker("w1", "i-1", CMLWorkerStatus.STOPPED)]
    assert check_refresh(stale, ec2, errors(copy_error), NOW, REGIONS)
    # A managed instance nobody is bound to (and that is no copy).
    lonely = {**ec2, "i-4": instance("i-4", wid="w9")}
    assert check_refresh(fine, lonely, errors(copy_error), NOW, REGIONS)
    # Detached: expected once past the grace, with EC2's state; never when managed.
    untagged = {"i-1": instance("i-1", "stopped", managed=False, wid="w1")}
    gone_tag = [worker("w1", "i-1", CMLWorkerStatus.STOPPED, detached=True)]
    assert check_refresh(gone_tag, untagged, [], NOW, REGIONS) == []
    assert check_refresh([worker("w1", "i-1", CMLWorkerStatus.STOPPED)], untagged, [], NOW, REGIONS)
    assert check_refresh(
        [worker("w1", "i-1", CMLWorkerStatus.RUNNING, detached=True)], untagged, [], NOW, REGIONS
    )
    # Only a launch still pending is given the grace; an imported worker is looked up at once.
    launching = [worker("w1", "i-1", CMLWorkerStatus.PENDING, created_at=NOW)]
    assert check_refresh(launching, untagged, [], NOW, REGIONS) == []
    assert check_refresh([worker("w1", "i-1", created_at=NOW)], untagged, [], NOW, REGIONS)
    tagged = {"i-1": instance("i-1", wid="w1")}
    assert check_refresh([worker("w1", "i-1", detached=True)], tagged, [], NOW, REGIONS)
    # A live worker on a terminated instance.
    ended = {"i-1": instance("i-1", "terminated", wid="w1")}
    assert check_refresh(fine, ended, [], NOW, REGIONS)


def test_check_untouched_and_discovered_fail():
    before = {"i-1": instance("i-1")}
    assert check_untouched(before, before, set(), "x") == []
    assert check_untouched(before, {"i-1": instance("i-1", managed=False)}, set(), "x")
    assert check_untouched(before, {}, set(), "x")

    def offer(iid: str, problem: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(aws_instance_id=iid, copy_of=None, problem=problem)

    ec2 = {"i-1": instance("i-1", managed=False), "i-2": instance("i-2", "terminated")}
    assert check_discovered([offer("i-1")], ec2, set()) == []
    assert check_discovered([offer("i-1"), offer("i-1")], ec2, set())
    assert check_discovered([offer("i-2")], ec2, set())
    assert check_discovered([offer("i-1")], ec2, {"i-1"})
    assert check_discovered([offer("i-1", "already managed")], ec2, {"i-1"}) == []


def test_check_import_fails_on_a_wrong_binding_or_a_tag_on_a_refused_instance():
    def offer(iid: str, name: str) -> SimpleNamespace:
        dto = CMLWorkerInstanceDto(aws_instance_id=iid, region=EAST, tags={"Name": name})
        return SimpleNamespace(instance=dto)

    before = {
        "i-1": instance("i-1", managed=False),
        "i-2": instance("i-2", managed=False),
    }
    after = {**before, "i-1": instance("i-1", wid="n1")}
    chosen = [offer("i-1", "fine"), offer("i-2", "bad\u200b")]
    new = [worker("n1", "i-1", name="fine")]
    result = ActionResult("import", done=("fine",), refused=("bad: zero-width",))
    assert check_import(chosen, set(), set(), new, before, after, result) == []
    # The refused one got tagged; the name was taken; the tag names another id.
    tagged = {**after, "i-2": instance("i-2", wid="n2")}
    assert check_import(chosen, set(), set(), new, before, tagged, result)
    assert check_import(chosen, {"fine"}, set(), new, before, after, result)
    wrong = {**before, "i-1": instance("i-1", wid="someone-else")}
    assert check_import(chosen, set(), set(), new, before, wrong, result)


def test_check_reattach_fails_on_a_missed_or_extra_re_tag():
    detached = {"w1": worker("w1", "i-1", detached=True), "w2": worker("w2", "i-2")}
    whole = {"w1": worker("w1", "i-1"), "w2": worker("w2", "i-2")}
    before = {"i-1": instance("i-1", managed=False, wid="w1"), "i-2": instance("i-2", wid="w2")}
    after = {**before, "i-1": instance("i-1", wid="w1")}
    done = ActionResult("re-tag", done=("w1",), refused=("w2: it is not detached",))
    assert check_reattach(["w1", "w2"], detached, whole, before, after, done) == []
    # Not re-tagged; still shown detached; a worker that was not detached was touched.
    assert check_reattach(["w1", "w2"], detached, whole, before, before, done)
    assert check_reattach(["w1", "w2"], detached, detached, before, after, done)
    touched = {**after, "i-2": instance("i-2", wid="w9")}
    assert check_reattach(["w1", "w2"], detached, whole, before, touched, done)
    assert check_reattach(["w1", "w2"], detached, whole, before, after, ActionResult("re-tag"))


def test_check_create_fails_on_a_bad_name_accepted_or_a_good_one_refused():
    before = {"i-1": instance("i-1", wid="w1")}
    tags = {MANAGED_KEY: "true", WORKER_ID_TAG: "n1", "Name": "lab"}
    after = {**before, "i-2": Instance("i-2", EAST, "running", tags)}
    made = [worker("n1", "i-2", name="lab")]
    assert check_create(" lab ", set(), made, before, after, ActionResult("create", ("lab",))) == []
    refused = ActionResult("create", refused=("lab: a live worker already has this name",))
    assert check_create("LAB", {"lab"}, [], before, before, refused) == []
    # A look-alike of a live name, or an invisible character, created anyway.
    assert check_create("LAB", {"lab"}, made, before, after, ActionResult("create", ("lab",)))
    assert check_create("lab\u200b", set(), made, before, after, ActionResult("create", ("l",)))
    # A good name refused; the instance not tagged with the worker's id.
    assert check_create("lab", set(), [], before, before, refused)
    wrong = {**after, "i-2": Instance("i-2", EAST, "running", {**tags, WORKER_ID_TAG: "x"})}
    assert check_create("lab", set(), made, before, wrong, ActionResult("create", ("lab",)))


# ---------------------------------------------------------------------------- defects found
# Each is a defect the machine found (FIXED_DEFECTS in fleet_world.py), now fixed: the machine
# guards them too (KNOWN_DEFECTS is empty), and these tests reproduce each one directly.


def _describe(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def _launch_copy(ec2, instance_id: str, *, name: str) -> str:
    """'Launch more like this': a new instance with the original's tags, renamed."""
    original = _describe(ec2, instance_id)
    tags = {t["Key"]: t["Value"] for t in original["Tags"] if not t["Key"].startswith("aws:")}
    tags["Name"] = name
    reply = ec2.run_instances(
        ImageId=original["ImageId"],
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )
    return reply["Instances"][0]["InstanceId"]


@pytest.mark.parametrize("kind", ["start", "stop", "terminate"])
async def test_an_action_given_a_worker_twice_acts_once_and_answers(fleet, moto_client, kind):
    instance_id = await fleet.launch("twice")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    if kind == "start":
        ec2.stop_instances(InstanceIds=[instance_id])
        await controller.refresh_ec2()
    (worker_id,) = [w.id for w in controller.workers()]
    result = await getattr(controller, f"{kind}_workers")([worker_id, worker_id])
    assert result.done == ("twice",) and result.ok, result.summary()
    assert (
        _describe(ec2, instance_id)["State"]["Name"]
        == {
            "start": "running",
            "stop": "stopped",
            "terminate": "terminated",
        }[kind]
    )


async def test_discover_never_offers_a_copy_terminated_since_the_last_refresh(fleet, moto_client):
    original = await fleet.launch("cml-lab-01")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    copy_id = _launch_copy(ec2, original, name="cml-lab-02")
    await controller.refresh_ec2()
    ec2.terminate_instances(InstanceIds=[copy_id])
    offered = await controller.discover()
    assert copy_id not in [d.aws_instance_id for d in offered]
    await controller.import_instances(offered)
    assert all(w.aws_instance_id != copy_id for w in controller.workers())


async def test_discover_offers_an_instance_once_and_import_reports_what_it_made(fleet, moto_client):
    original = await fleet.launch("cml-lab-01")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    copy_id = _launch_copy(ec2, original, name="cml-lab-02")
    await controller.refresh_ec2()
    ec2.delete_tags(Resources=[copy_id], Tags=[{"Key": MANAGED_KEY}])
    ec2.create_tags(Resources=[copy_id], Tags=[{"Key": "Name", "Value": "cml-lab-03"}])
    offered = await controller.discover()
    result = await controller.import_instances(offered)
    made = [w for w in controller.workers() if w.aws_instance_id == copy_id]
    assert [d.aws_instance_id for d in offered].count(copy_id) == 1
    assert len(made) == 1 and result.done == (made[0].name,), result.summary()
    assert made[0].name == "cml-lab-03", "EC2's name now, not the last refresh's"


async def test_discover_does_not_offer_a_detached_workers_instance_as_importable(
    fleet, moto_client
):
    instance_id = await fleet.launch("cml-lab-01")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": MANAGED_KEY}])
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": "renamed"}])
    fleet.clock.advance(minutes=5)
    await controller.refresh_ec2()
    assert controller.workers()[0].detached
    offered = {d.aws_instance_id: d for d in await controller.discover()}
    assert instance_id not in offered or offered[instance_id].problem is not None
