"""Schedules at the close: which workers stop, which are spared, and the close grace (moto's
server, the fake CML over HTTPS, a real data file and an injected clock)."""

from __future__ import annotations

import pytest

from cmltui.domain.enums import CMLWorkerStatus
from tests.services.schedule_scene import (
    Scene,
    by_name,
    events_of,
)


async def test_after_the_close_an_idle_worker_stops_but_not_one_running_a_lab(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    busy_id = await scene.launch("busy", "c", running_labs=1)
    await scene.launch("idle", "c", running_labs=0)
    await scene.launch("unscheduled", None, running_labs=0)
    # The global idle rule is on (30 min, no snooze): it stops the unscheduled worker, but a
    # scheduled one is kept up inside its window however idle.
    controller = fleet.make_controller(
        scene.config(
            {"c": {"windows": [scene.window(-60, 45)]}},
            auto_stop=True,
            threshold_minutes=30,
            snooze_minutes=0,
        )
    )
    await controller.refresh_once()
    scene.at(40)
    await controller.refresh_once()
    workers = by_name(controller)
    assert workers["idle"].status == CMLWorkerStatus.RUNNING  # idle 40 min, window open
    assert workers["unscheduled"].status == CMLWorkerStatus.STOPPING
    assert scene.count("StopInstances") == 1
    scene.at(46)
    await controller.refresh_once()
    workers = by_name(controller)
    assert workers["idle"].status in (CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED)
    assert workers["busy"].status == CMLWorkerStatus.RUNNING
    assert scene.count("StopInstances") == 2
    stopped = events_of(controller, workers["idle"].id, "auto-stopped")
    assert len(stopped) == 1
    assert stopped[0].data["kind"] == "idle"
    assert stopped[0].data["reason"].startswith("auto-stop: schedule c closed; idle for 46 min")
    scene.at(120)
    await controller.refresh_once()
    assert by_name(controller)["busy"].status == CMLWorkerStatus.RUNNING
    assert fleet.cml.worker(busy_id).running_lab_count() == 1


async def test_a_force_schedule_stops_at_the_close_even_while_a_lab_runs(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    await scene.launch("busy", "c", running_labs=1)
    controller = fleet.make_controller(
        scene.config({"c": {"windows": [scene.window(-60, 10)], "force": True}})
    )
    await controller.refresh_once()
    scene.at(9)
    await controller.refresh_once()
    assert scene.count("StopInstances") == 0
    scene.at(11)
    await controller.refresh_once()
    busy = by_name(controller)["busy"]
    assert busy.status == CMLWorkerStatus.STOPPING
    stopped = events_of(controller, busy.id, "auto-stopped")
    assert stopped[0].data["kind"] == "schedule"
    assert "(force)" in stopped[0].data["reason"]
    assert scene.count("StopInstances") == 1


async def test_a_worker_started_outside_cmltui_while_closed_is_snoozed_not_stopped(
    fleet, moto_client
):
    scene = Scene(fleet, moto_client)
    instance_id = await scene.launch("evening", "c", running_labs=0)
    controller = fleet.make_controller(
        scene.config(
            {"c": {"windows": [scene.window(600, 700)], "idle_minutes": 20}},
            snooze_minutes=60,
        )
    )
    await controller.refresh_once()
    scene.stop_outside(instance_id)
    await controller.refresh_once()
    scene.at(10)
    scene.start_outside(instance_id)
    await controller.refresh_once()
    assert by_name(controller)["evening"].status == CMLWorkerStatus.RUNNING
    scene.at(10 + 45)  # idle 45 min > the schedule's 20, but inside the 60-min snooze
    await controller.refresh_once()
    assert by_name(controller)["evening"].status == CMLWorkerStatus.RUNNING
    assert scene.count("StopInstances") == 1  # the outside stop only
    scene.at(10 + 61)
    await controller.refresh_once()
    assert by_name(controller)["evening"].status == CMLWorkerStatus.STOPPING
    assert scene.count("StopInstances") == 2


def _stop_labs(fleet, instance_id: str) -> None:
    fake = fleet.cml.worker(instance_id)
    for lab in fake.labs_snapshot():
        if lab.running:
            fake.set_lab_state(lab.id, "STOPPED")


async def test_after_the_close_a_worker_nobody_used_since_stops_after_the_close_grace(
    fleet, moto_client
):
    scene = Scene(fleet, moto_client)
    left_id = await scene.launch("left", "c", running_labs=1)
    stayed_id = await scene.launch("stayed", "c", running_labs=1)
    # Closes at +30; its idle threshold is 10 min, its close grace the default 5.
    controller = fleet.make_controller(
        scene.config(
            {"c": {"windows": [scene.window(-60, 30)], "idle_minutes": 10}},
            snooze_minutes=0,
            auto_stop=True,  # the countdown is shown (schedules stop either way)
        )
    )
    await controller.refresh_once()
    scene.at(27)  # both classes stop their labs three minutes before the close
    _stop_labs(fleet, left_id)
    _stop_labs(fleet, stayed_id)
    await controller.refresh_once()
    scene.at(31)  # after the close, someone is still at "stayed"
    stayed = fleet.cml.worker(stayed_id)
    stayed.add_activity(next(iter(stayed.user_ids.values())))
    await controller.refresh_once()
    workers = by_name(controller)
    assert workers["left"].status == CMLWorkerStatus.RUNNING  # idle 4 min < the 5-min grace
    # The detail pane's countdown says when: idle since +27, 5 min of grace: at +32.
    assert workers["left"].auto_stop_in_minutes == pytest.approx(1.0, abs=0.05)
    assert workers["stayed"].auto_stop_in_minutes == pytest.approx(10.0, abs=0.05)
    assert "(close grace 5 min: nobody active since c closed)" in workers["left"].policy.lines[0]
    assert "(threshold 10 min, from schedule)" in workers["stayed"].policy.lines[0]
    scene.at(32.5)
    await controller.refresh_once()
    workers = by_name(controller)
    assert workers["left"].status == CMLWorkerStatus.STOPPING  # the threshold would wait to +37
    assert workers["stayed"].status == CMLWorkerStatus.RUNNING
    stopped = events_of(controller, workers["left"].id, "auto-stopped")
    assert len(stopped) == 1
    assert "nobody active since c closed (close grace 5 min" in stopped[0].data["reason"]
    scene.at(37)  # idle 6 min, past the grace, but used after the close: the threshold holds
    await controller.refresh_once()
    assert by_name(controller)["stayed"].status == CMLWorkerStatus.RUNNING
    scene.at(41.5)
    await controller.refresh_once()
    assert by_name(controller)["stayed"].status == CMLWorkerStatus.STOPPING
    assert scene.count("StopInstances") == 2


async def test_the_close_grace_never_stops_a_worker_whose_lab_is_still_started(fleet, moto_client):
    scene = Scene(fleet, moto_client)
    busy_id = await scene.launch("busy", "c", running_labs=1)
    controller = fleet.make_controller(
        scene.config(
            {"c": {"windows": [scene.window(-60, 30)], "close_grace_minutes": 0}},
            snooze_minutes=0,
        )
    )
    await controller.refresh_once()
    scene.at(45)
    await controller.refresh_once()
    assert by_name(controller)["busy"].status == CMLWorkerStatus.RUNNING
    assert scene.count("StopInstances") == 0
    scene.at(50)  # the lab stops after the close: activity after it, the threshold applies
    _stop_labs(fleet, busy_id)
    await controller.refresh_once()
    scene.at(51)
    await controller.refresh_once()
    assert by_name(controller)["busy"].status == CMLWorkerStatus.RUNNING
    assert scene.count("StopInstances") == 0
