"""Issue 17 #3: one poller for a team. The process holding the policy lease reads CML and
stores a poll mark; the others take the figures it stored instead of asking CML (and
CloudWatch) again while the mark is fresh, and poll for themselves when it is not.

Real parts: DynamoDB and EC2 on moto's server, the fake CML over HTTPS, TinyDB on a file, an
injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

from cmltui.domain.enums import CMLServiceStatus
from cmltui.domain.lease import PollMark
from cmltui.store import poll_mark
from tests.services.test_team_store import team  # noqa: F401  (the shared-table fixture)


def _cml_requests(fleet) -> int:
    return sum(fleet.cml.worker(key).counters.request_count for key in fleet.cml.worker_keys())


def _by_name(controller):
    return {w.name: w for w in controller.workers()}


async def test_the_others_show_the_runners_figures_without_asking_cml(fleet, team):  # noqa: F811
    await fleet.launch("busy", running_labs=2)
    await fleet.launch("quiet")
    alice, bob = team("alice@jump1"), team("bob@laptop")
    await alice.refresh_ec2()
    await bob.refresh_ec2()
    await alice.refresh_cml()  # alice takes the lease and reads CML for the team
    assert alice.policy_runner == alice.holder_id
    assert bob.current().policy_runner is None, "not known to bob before his first CML cycle"
    before = _cml_requests(fleet)
    bob_before = bob.cml_request_count
    await bob.refresh_cml()
    assert bob.cml_request_count == bob_before, "bob asked CML although alice's mark is fresh"
    assert bob.current().policy_runner == alice.holder_id, "bob's header names who reads CML"
    assert alice.current().policy_runner is None, "a runner with no policy to run names nobody"
    assert _cml_requests(fleet) == before
    ours, theirs = _by_name(alice), _by_name(bob)
    for name in ("busy", "quiet"):
        assert theirs[name].service_status == CMLServiceStatus.AVAILABLE, name
        assert theirs[name].service_pending is False, name
        assert theirs[name].cml_version == ours[name].cml_version
        assert theirs[name].active_labs_count == ours[name].active_labs_count
        assert theirs[name].cpu_utilization == ours[name].cpu_utilization
    assert theirs["busy"].active_labs_count == 2
    # Three more cycles each: bob still sends nothing to CML, alice polls every time.
    for _ in range(3):
        fleet.clock.advance(seconds=fleet.config.refresh.cml_seconds)
        await alice.refresh_cml()
        await bob.refresh_cml()
    assert bob.cml_request_count == bob_before
    assert alice.cml_request_count > 0


async def test_a_stale_mark_makes_each_process_poll_for_itself(fleet, team):  # noqa: F811
    await fleet.launch("lonely")
    alice, bob = team("alice@jump1"), team("bob@laptop")
    await alice.refresh_once()
    await bob.refresh_ec2()
    await bob.refresh_cml()
    assert bob.cml_request_count == 0
    # alice is killed: her mark ages past bob's interval (plus her cycle time) and bob reads
    # CML himself at once, long before the lease itself runs out.
    fleet.clock.advance(seconds=fleet.config.refresh.cml_seconds + 3)
    await bob.refresh_cml()
    assert bob.cml_request_count > 0
    assert _by_name(bob)["lonely"].service_status == CMLServiceStatus.AVAILABLE


async def test_a_worker_the_runner_failed_to_read_is_polled_by_the_others(fleet, team):  # noqa: F811
    broken_id = await fleet.launch("broken")
    await fleet.launch("fine")
    alice, bob = team("alice@jump1"), team("bob@laptop")
    await alice.refresh_ec2()
    await bob.refresh_ec2()
    fleet.cml.worker(broken_id).set_faults(http_500=True, only_paths=frozenset({"system_stats"}))
    await alice.refresh_cml()
    assert _by_name(alice)["broken"].last_error, "alice saw the fault"
    broken_requests = fleet.cml.worker(broken_id).counters.request_count
    fine_id = _by_name(alice)["fine"].aws_instance_id
    fine_requests = fleet.cml.worker(fine_id).counters.request_count
    await bob.refresh_cml()
    assert fleet.cml.worker(broken_id).counters.request_count > broken_requests, (
        "bob should read the worker alice could not"
    )
    assert fleet.cml.worker(fine_id).counters.request_count == fine_requests
    assert _by_name(bob)["broken"].last_error, "bob shows the fault he saw himself"


async def test_figures_the_runner_could_not_save_are_not_vouched_for(fleet, team, moto):  # noqa: F811
    await fleet.launch("unsaved", evolve=True)  # its figures change every read
    alice, bob = team("alice@jump1"), team("bob@laptop")
    await alice.refresh_once()
    await bob.refresh_ec2()
    fleet.clock.advance(minutes=5)  # alice's mark is stale; the worker's figures moved
    moto.faults.server_error("dynamodb", action="TransactWriteItems")
    await alice.refresh_cml()  # read CML, but the table refused the figures
    moto.faults.clear()
    assert alice.current().errors, "alice shows the failed write"
    await bob.refresh_cml()
    assert bob.cml_request_count > 0, "bob trusted a mark over figures that were never saved"


async def test_borrowed_workers_cost_no_cloudwatch_request(fleet, team):  # noqa: F811
    await fleet.launch("metered")
    alice, bob = team("alice@jump1"), team("bob@laptop")
    await alice.refresh_once()
    await bob.refresh_ec2()
    await bob.refresh_cml()
    assert bob.cml_request_count == 0
    before = fleet.moto.request_counts[("cloudwatch", "GetMetricData")]
    await bob.refresh_cloudwatch()
    assert fleet.moto.request_counts[("cloudwatch", "GetMetricData")] == before
    await alice.refresh_cloudwatch()
    assert fleet.moto.request_counts[("cloudwatch", "GetMetricData")] == before + 1


async def test_a_mark_from_a_process_that_does_not_hold_the_lease_is_ignored(fleet, team):  # noqa: F811
    await fleet.launch("contested")
    alice, bob = team("alice@jump1"), team("bob@laptop")
    await alice.refresh_once()
    await bob.refresh_ec2()
    # A stray writer (an old cmltui, a hand edit) puts a fresh mark under another name.
    stray = PollMark(
        poller="mallory@elsewhere:1",
        at=fleet.clock(),
        cycle_seconds=0.1,
        interval_seconds=1.0,
        worker_ids=frozenset(w.id for w in bob.workers()),
    )
    await alice._repository.put_poll_mark_async(stray)
    await alice._repository.flush_async()
    await bob.refresh_cml()
    assert bob.current().policy_runner == alice.holder_id
    assert bob.cml_request_count > 0, "a mark not from the lease holder must not be trusted"


async def test_a_read_only_viewer_of_a_data_file_borrows_the_writers_figures(fleet):
    await fleet.launch("filed", running_labs=1)
    writer = fleet.make_controller(user="alice@jump1")
    await writer.refresh_once()
    viewer = fleet.make_controller(read_only=True, user="bob@jump1")
    await viewer.load()
    await viewer.refresh_ec2()
    await viewer.refresh_cml()
    assert viewer.cml_request_count == 0
    shown = _by_name(viewer)["filed"]
    assert shown.service_status == CMLServiceStatus.AVAILABLE
    assert shown.active_labs_count == 1
    # The writer quits: its mark goes stale and the viewer reads CML itself.
    await writer.stop()
    fleet.clock.advance(seconds=fleet.config.refresh.cml_seconds + 3)
    await viewer.refresh_cml()
    assert viewer.cml_request_count > 0


def test_a_damaged_mark_reads_as_none():
    good = PollMark("a@b:1", datetime(2026, 1, 1, tzinfo=UTC), 0.5, 30.0, frozenset({"w1"}))
    assert poll_mark.decode(poll_mark.encode(good)) == good
    for bad in (
        None,
        "text",
        {},
        {**poll_mark.encode(good), "at": "yesterday"},
        {**poll_mark.encode(good), "at": "2026-01-01T00:00:00"},  # no zone
        {**poll_mark.encode(good), "workers": "w1"},
        {**poll_mark.encode(good), "workers": [1, 2]},
        {**poll_mark.encode(good), "poller": ""},
        {**poll_mark.encode(good), "cycle_seconds": "slow"},
    ):
        assert poll_mark.decode(bad) is None, bad


def test_a_mark_is_fresh_for_one_interval_plus_the_pollers_cycle():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    mark = PollMark("a@b:1", at, 4.0, 30.0, frozenset())
    from datetime import timedelta

    assert mark.fresh_for(at + timedelta(seconds=34), 30.0)
    assert not mark.fresh_for(at + timedelta(seconds=36), 30.0)
    assert not mark.fresh_for(at + timedelta(seconds=20), 10.0)
    assert not mark.fresh_for(at - timedelta(minutes=5), 30.0), "a mark from the future"
