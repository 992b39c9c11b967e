"""An automatic stop reads the worker's CML first: a lab started since the last CML cycle keeps
the worker up. Found by bench/week.py: the EC2 cycle's idle runner stopped workers on the last
CML cycle's telemetry, so a lab started in between was stopped with its worker. Real parts:
moto's server, the fake CML over HTTPS, a real data file, an injected clock."""

from __future__ import annotations

from datetime import timedelta

from cmltui.config import IdleConfig, SchedulesConfig
from cmltui.domain.enums import CMLWorkerStatus
from tests.fixtures.moto_fixtures import MOTO_REGIONS


def _stops(fleet) -> int:
    return fleet.moto.request_counts[("ec2", "StopInstances")]


async def _idle_worker(fleet, config):
    instance_id = await fleet.launch("w1", running_labs=0, labs=1, evolve=False)
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    fleet.clock.advance(minutes=25)
    await controller.refresh_once()  # the last CML cycle: idle, no lab
    assert _stops(fleet) == 0
    fake = fleet.cml.worker(instance_id)
    return controller, fake


async def test_the_idle_runner_does_not_stop_a_worker_whose_lab_started_since_the_last_read(
    fleet,
):
    config = fleet.config.model_copy(
        update={"idle": IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=0)}
    )
    controller, fake = await _idle_worker(fleet, config)
    fleet.clock.advance(minutes=4)
    fake.set_lab_state(fake.labs_snapshot()[0].id, "STARTED")  # a student starts a lab
    fleet.clock.advance(minutes=3)  # idle 32 min by the last CML cycle's figures
    await controller.refresh_ec2()  # the EC2 loop's turn: it applies the idle policy
    assert _stops(fleet) == 0
    assert fake.running_lab_count() == 1
    worker = controller.workers()[0]
    assert worker.status == CMLWorkerStatus.RUNNING
    assert worker.active_labs_count == 1
    # Once the lab stops and the threshold passes again, the worker is stopped.
    fake.set_lab_state(fake.labs_snapshot()[0].id, "STOPPED")
    fleet.clock.advance(minutes=31)
    await controller.refresh_once()
    assert _stops(fleet) == 1


async def test_a_schedule_stop_after_the_close_reads_cml_first(fleet):
    noon = fleet.clock().replace(second=0, microsecond=0)
    zone = "UTC"
    opens, closes = noon - timedelta(hours=2), noon + timedelta(minutes=10)
    tables = {
        "c": {
            "zone": zone,
            "windows": [{"days": "mon-sun", "start": f"{opens:%H:%M}", "end": f"{closes:%H:%M}"}],
            "idle_minutes": 10,
        }
    }
    config = fleet.config.model_copy(
        update={
            "schedules": SchedulesConfig.model_validate(tables),
            "idle": IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=0),
        }
    )
    instance_id = await fleet.launch("w1", running_labs=0, labs=1, evolve=False)
    ec2 = fleet.session.client("ec2", region_name=MOTO_REGIONS[0], endpoint_url=fleet.moto.url)
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "cmltui:schedule", "Value": "c"}])
    controller = fleet.make_controller(config)
    await controller.refresh_once()  # inside the window: kept up, idle
    fake = fleet.cml.worker(instance_id)
    fleet.clock.advance(minutes=9)
    await controller.refresh_once()  # the last CML cycle before the close: no lab
    fake.set_lab_state(fake.labs_snapshot()[0].id, "STARTED")  # a lab runs past the close
    fleet.clock.advance(minutes=3)  # closed; idle 12 min by the last CML cycle's figures
    await controller.refresh_ec2()
    await controller.refresh_cml()  # the schedule runner runs after the poll: fresh anyway
    assert _stops(fleet) == 0
    # The EC2 loop alone, later: the lab still runs, the idle runner leaves it to the schedule.
    fleet.clock.advance(minutes=30)
    await controller.refresh_ec2()
    assert _stops(fleet) == 0
    assert fake.running_lab_count() == 1
