"""Schedules run by the controller: moto's server, the fake CML over HTTPS, a real data file and
an injected clock. Wall times are chosen in an ``Etc/GMT±N`` zone where the test starts at
12:xx local ("noon"), so windows are given as minutes from then."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cmltui.config import SchedulesConfig
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from tests.services.schedule_scene import (
    EAST,
    WEST,
    Scene,
    by_name,
    events_of,
    learn_boot,
)


async def test_a_stopped_worker_starts_ahead_of_its_window_by_its_learned_boot_time(
    fleet, moto_client
):
    scene = Scene(fleet, moto_client)
    instance_id = await scene.launch("class-1", "emea-class")
    controller = fleet.make_controller(
        scene.config({"emea-class": {"windows": [scene.window(120, 240)]}})
    )
    await controller.refresh_once()
    await learn_boot(scene, controller, instance_id, boot_minutes=6)
    worker = by_name(controller)["class-1"]
    assert worker.service_status == CMLServiceStatus.AVAILABLE
    learned = controller.find(worker.id).state.last_boot_to_ready_seconds
    assert learned == 360.0
    scene.stop_outside(instance_id)
    await controller.refresh_once()
    assert by_name(controller)["class-1"].status == CMLWorkerStatus.STOPPED
    # Lead: 6 min boot x 1.2 + one 1-second CML cycle = about 7.2 min before 14:00 local.
    scene.at(120 - 8)
    await controller.refresh_once()
    assert scene.count("StartInstances") == 1  # only the outside start of _learn_boot
    scene.at(120 - 7)
    await controller.refresh_once()
    assert scene.count("StartInstances") == 2
    started = events_of(controller, worker.id, "auto-started")
    assert len(started) == 1
    assert started[0].data["reason"] == f"auto-start: schedule emea-class opens {scene.label(120)}"
    assert started[0].data["window_key"].startswith("emea-class@")
    assert by_name(controller)["class-1"].status in (
        CMLWorkerStatus.PENDING,
        CMLWorkerStatus.RUNNING,
    )
    # The intent was recorded first and answered.
    requested = events_of(controller, worker.id, "action-requested")
    assert requested[-1].data["action"] == "auto-start"
    assert requested[-1].data["requested_by"] == "cmltui:schedule"


async def test_without_a_learned_boot_time_the_default_lead_applies(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    instance_id = await scene.launch("fresh", "c")
    config = scene.config({"c": {"windows": [scene.window(60, 120)]}})
    config = config.model_copy(
        update={"schedules": config.schedules.model_copy(update={"default_lead_minutes": 25})}
    )
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    scene.stop_outside(instance_id)
    await controller.refresh_once()
    scene.at(60 - 26)
    await controller.refresh_once()
    assert scene.count("StartInstances") == 0
    scene.at(60 - 24)
    await controller.refresh_once()
    assert scene.count("StartInstances") == 1


async def test_no_start_on_a_skip_date(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    instance_id = await scene.launch("holiday", "c")
    opening_date = (scene.noon + timedelta(minutes=30)).astimezone(ZoneInfo(scene.zone)).date()
    controller = fleet.make_controller(
        scene.config(
            {
                "c": {
                    "windows": [scene.window(30, 90)],
                    "skip_dates": [opening_date.isoformat()],
                    "lead_minutes": 10,
                }
            }
        )
    )
    await controller.refresh_once()
    scene.stop_outside(instance_id)
    await controller.refresh_once()
    for minutes in (25, 35, 60):
        scene.at(minutes)
        await controller.refresh_once()
    assert scene.count("StartInstances") == 0
    assert by_name(controller)["holiday"].status == CMLWorkerStatus.STOPPED


async def test_two_overlapping_schedules_start_their_workers_in_one_call_per_region(
    fleet, moto_client
):
    scene = Scene(fleet, moto_client)
    a1 = await scene.launch("a1", "a")
    a2 = await scene.launch("a2", "a")
    b1 = await scene.launch("b1", "b")
    west = await scene.launch("b-west", "b", region=WEST)
    controller = fleet.make_controller(
        scene.config(
            {
                "a": {"windows": [scene.window(30, 120)], "lead_minutes": 10},
                "b": {"windows": [scene.window(35, 90)], "lead_minutes": 15},
            }
        )
    )
    await controller.refresh_once()
    scene.stop_outside(a1, a2, b1)
    scene.stop_outside(west, region=WEST)
    await controller.refresh_once()
    assert scene.count("StartInstances") == 0
    scene.at(21)  # inside both lead times
    await controller.refresh_once()
    assert scene.count("StartInstances") == 2  # one call for EAST's three, one for WEST
    workers = by_name(controller)
    for name in ("a1", "a2", "b1", "b-west"):
        assert workers[name].status in (CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING)
        reason = events_of(controller, workers[name].id, "auto-started")[0].data["reason"]
        assert f"schedule {name[0]} opens" in reason


async def test_a_window_across_midnight_keeps_workers_up_past_midnight(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    await scene.launch("night", "late")
    # A window from 22:xx to 02:xx local, across midnight.
    assert scene.local(600) > "22:00" and scene.local(840) < "03:00"
    controller = fleet.make_controller(
        scene.config(
            {"late": {"windows": [scene.window(600, 840)]}},
            snooze_minutes=0,
            threshold_minutes=30,
        )
    )
    await controller.refresh_once()
    instance_id = controller.find("night").state.aws_instance_id
    scene.stop_outside(instance_id)
    await controller.refresh_once()
    scene.at(600 - 5)  # within the default 15-min lead
    await controller.refresh_once()
    assert scene.count("StartInstances") == 1
    await controller.refresh_once()
    scene.at(60 * 13)  # 01:00 local, the next day: idle for hours, but inside the window
    await controller.refresh_once()
    assert by_name(controller)["night"].status == CMLWorkerStatus.RUNNING
    scene.at(840 + 1)  # closed, idle well past 30 min
    await controller.refresh_once()
    assert by_name(controller)["night"].status == CMLWorkerStatus.STOPPING


def _next_offset_change(zone: ZoneInfo, after: datetime, *, forward: bool) -> datetime:
    """The next UTC hour at which ``zone``'s offset rises (forward) or falls (back)."""
    at = after.replace(minute=0, second=0, microsecond=0)
    for _ in range(24 * 400):
        nxt = at + timedelta(hours=1)
        before, later = at.astimezone(zone).utcoffset(), nxt.astimezone(zone).utcoffset()
        if before != later and (later > before) == forward:
            return nxt
        at = nxt
    raise AssertionError("no DST change within 400 days")


async def test_dst_spring_forward_and_fall_back_openings(fleet, moto_client):
    new_york = ZoneInfo("America/New_York")
    spring = _next_offset_change(new_york, fleet.clock(), forward=True)  # 07:00 UTC
    fleet.clock.set(spring - timedelta(hours=12))  # the day before, far from any window
    instance_id = await fleet.launch("dst")
    moto_client("ec2", EAST).create_tags(
        Resources=[instance_id], Tags=[{"Key": "cmltui:schedule", "Value": "ny"}]
    )
    windows = [
        {"days": "mon-sun", "start": "02:30", "end": "04:00"},  # missing on the spring day
        {"days": "mon-sun", "start": "01:30", "end": "01:45"},  # twice on the fall day
    ]
    config = fleet.config.model_copy(
        update={
            "schedules": SchedulesConfig.model_validate(
                {"ny": {"zone": "America/New_York", "windows": windows, "lead_minutes": 10}}
            )
        }
    )
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    ec2 = moto_client("ec2", EAST)
    ec2.stop_instances(InstanceIds=[instance_id])
    await controller.refresh_once()

    # 01:30 EST (the 01:30-01:45 window) is started and stopped first; then 02:30 does not exist
    # that day: the window opens at 03:30 EDT = 07:30 UTC, so the start is at 07:20 UTC.
    fleet.clock.set(spring + timedelta(minutes=15))  # 03:15 EDT
    await controller.refresh_once()
    assert fleet.moto.request_counts[("ec2", "StartInstances")] == 0
    fleet.clock.set(spring + timedelta(minutes=21))
    await controller.refresh_once()
    assert fleet.moto.request_counts[("ec2", "StartInstances")] == 1
    started = events_of(controller, controller.find("dst").id, "auto-started")
    assert started[-1].data["reason"].endswith("opens Sun 03:30")

    await controller.refresh_once()
    ec2.stop_instances(InstanceIds=[instance_id])
    fall = _next_offset_change(new_york, fleet.clock(), forward=False)  # 06:00 UTC
    # 01:30 happens twice that day; the window opens at the first (EDT, 05:30 UTC).
    fleet.clock.set(fall - timedelta(minutes=41))  # 01:19 EDT
    await controller.refresh_once()
    assert controller.find("dst").state.status == CMLWorkerStatus.STOPPED
    starts = fleet.moto.request_counts[("ec2", "StartInstances")]
    fleet.clock.set(fall - timedelta(minutes=39))  # 01:21 EDT: 9 min before the first 01:30
    await controller.refresh_once()
    assert fleet.moto.request_counts[("ec2", "StartInstances")] == starts + 1
    # Stopped again during the repeated hour: the second 01:30 (EST) is the same window, not
    # a new opening, so it is not started twice.
    ec2.stop_instances(InstanceIds=[instance_id])
    fleet.clock.set(fall + timedelta(minutes=25))  # 01:25 EST
    await controller.refresh_once()
    fleet.clock.set(fall + timedelta(minutes=35))  # 01:35 EST
    await controller.refresh_once()
    assert fleet.moto.request_counts[("ec2", "StartInstances")] == starts + 1


async def test_no_second_start_for_one_opening_across_a_controller_restart(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    instance_id = await scene.launch("once", "c")
    config = scene.config({"c": {"windows": [scene.window(30, 90)], "lead_minutes": 10}})
    first = fleet.make_controller(config)
    await first.refresh_once()
    scene.stop_outside(instance_id)
    await first.refresh_once()
    scene.at(21)
    await first.refresh_once()
    assert scene.count("StartInstances") == 1
    await first.refresh_once()
    # The operator stops it before the class; cmltui restarts.
    scene.stop_outside(instance_id)
    await first.stop()
    second = fleet.make_controller(config)
    for minutes in (22, 29, 45):
        scene.at(minutes)
        await second.refresh_once()
    assert by_name(second)["once"].status == CMLWorkerStatus.STOPPED
    assert scene.count("StartInstances") == 1
    # The next day's opening is a new one: started again.
    scene.at(24 * 60 + 21)
    await second.refresh_once()
    assert scene.count("StartInstances") == 2


async def test_only_the_lease_holder_starts_workers(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    instance_id = await scene.launch("leased", "c")
    config = scene.config(
        {"c": {"windows": [scene.window(30, 90)], "lead_minutes": 10}}, auto_stop=True
    )
    holder = fleet.make_controller(config, user="alice")
    other = fleet.make_controller(config, user="bob")
    scene.stop_outside(instance_id)
    await holder.refresh_once()
    scene.at(19.5)
    await holder.refresh_once()  # the idle rule (auto_stop on) claims the lease (60 s)
    scene.at(20.2)  # the lead time (10 min before 12:30) has begun
    await other.refresh_once()
    assert by_name(other)["leased"].status == CMLWorkerStatus.STOPPED
    assert scene.count("StartInstances") == 0  # bob's controller does not act...
    assert other.policy_runner == holder.holder_id
    await holder.refresh_once()
    assert scene.count("StartInstances") == 1  # ...alice's does


async def test_an_unknown_schedule_name_is_a_problem_on_the_worker(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    instance_id = await scene.launch("typo", "emea-clas")
    controller = fleet.make_controller(scene.config({"emea-class": {"windows": []}}))
    await controller.refresh_once()
    problems = by_name(controller)["typo"].problems
    assert problems == (
        "schedule 'emea-clas' (tag cmltui:schedule) is not in the config (known: emea-class); "
        "no schedule applies",
    )
    scene.stop_outside(instance_id)
    await controller.refresh_once()
    assert scene.count("StartInstances") == 0


async def test_the_workers_own_policy_names_its_schedule_threshold_and_maintenance(
    fleet, moto_client
):
    from cmltui.domain.worker_policy import PolicyChange

    scene = Scene(fleet, moto_client)
    await scene.launch("own", "tagged")  # the tag says "tagged"; its own policy says "mine"
    await scene.launch("kept", "mine")
    controller = fleet.make_controller(
        scene.config(
            {
                "tagged": {"windows": [scene.window(-60, 600)]},  # open all afternoon
                "mine": {"windows": [scene.window(-60, 5)], "idle_minutes": 50},
            },
            snooze_minutes=0,
        )
    )
    await controller.refresh_once()
    own, kept = controller.find("own"), controller.find("kept")
    own.set_policy(PolicyChange(schedule="mine", idle_minutes=20), updated_by="ops")
    maintenance = (scene.noon, scene.noon + timedelta(minutes=120))
    kept.set_policy(PolicyChange(maintenance=maintenance), updated_by="ops")
    scene.at(21)  # "mine" closed at +5; own idle 21 min > its own 20 (not the schedule's 50)
    await controller.refresh_once()
    assert by_name(controller)["own"].status == CMLWorkerStatus.STOPPING
    assert "threshold 20 min" in events_of(controller, own.id, "auto-stopped")[0].data["reason"]
    scene.at(110)  # kept: idle 110 min > 50, but its maintenance blocks the stop until +120
    await controller.refresh_once()
    assert by_name(controller)["kept"].status == CMLWorkerStatus.RUNNING
    scene.at(121)
    await controller.refresh_once()
    assert by_name(controller)["kept"].status == CMLWorkerStatus.STOPPING
    assert scene.count("StopInstances") == 2
