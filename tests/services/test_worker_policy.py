"""Per-worker policy on real parts (moto server, fake CML, the TinyDB file, a frozen clock):
the worker's own threshold and maintenance window decide the idle auto-stop."""

from __future__ import annotations

from datetime import timedelta

from cmltui.config import ScheduleConfig, SchedulesConfig
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker_policy import PolicyChange
from cmltui.services.idle_policy import evaluate_idle
from cmltui.services.policy_view import resolve_policy
from tests.fixtures.workers import make_worker


def _auto_stop_config(fleet, threshold: int = 45):
    idle = fleet.config.idle.model_copy(
        update={"auto_stop": True, "threshold_minutes": threshold, "snooze_minutes": 0}
    )
    return fleet.config.model_copy(update={"idle": idle})


def _by_name(controller) -> dict:
    return {s.name: s for s in controller.workers()}


async def test_a_worker_with_a_90_min_override_is_not_stopped_at_45_min_idle(fleet):
    await fleet.launch("long")
    await fleet.launch("plain")
    controller = fleet.make_controller(_auto_stop_config(fleet))
    await controller.refresh_once()
    workers = _by_name(controller)
    result = await controller.set_policy([workers["long"].id], PolicyChange(idle_minutes=90))
    assert result.ok and result.done == ("long",)
    fleet.clock.advance(minutes=50)
    await controller.refresh_cml()
    workers = _by_name(controller)
    assert workers["plain"].status == CMLWorkerStatus.STOPPING  # the global 45 min
    assert workers["long"].status == CMLWorkerStatus.RUNNING
    assert workers["long"].policy is not None
    assert workers["long"].policy.effective.source == "worker"
    assert workers["long"].policy.lines[0].endswith("if still idle (threshold 90 min, from worker)")
    fleet.clock.advance(minutes=45)
    await controller.refresh_cml()
    assert _by_name(controller)["long"].status == CMLWorkerStatus.STOPPING
    # The change is in the data file with its actor: another controller on it reads it back.
    reopened = fleet.make_controller(read_only=True)
    await reopened.refresh_ec2()
    assert _by_name(reopened)["long"].policy.idle_minutes == 90
    changed = [e for e in controller.events_for(workers["long"].id) if "policy-changed" in e.type]
    assert len(changed) == 1 and changed[0].data["idle_minutes"] == 90
    assert changed[0].data["updated_by"] == controller.user


async def test_maintenance_blocks_the_stop_and_it_happens_after(fleet):
    await fleet.launch("maint")
    controller = fleet.make_controller(_auto_stop_config(fleet, threshold=30))
    await controller.refresh_once()
    worker_id = _by_name(controller)["maint"].id
    now = fleet.clock()
    window = (now + timedelta(minutes=10), now + timedelta(minutes=120))
    assert (await controller.set_policy([worker_id], PolicyChange(maintenance=window))).ok
    fleet.clock.advance(minutes=60)  # idle 60 min, threshold 30: only maintenance holds it
    await controller.refresh_cml()
    maint = _by_name(controller)["maint"]
    assert maint.status == CMLWorkerStatus.RUNNING
    assert maint.policy is not None
    assert maint.policy.lines == (f"auto-stop blocked by maintenance until {window[1]:%H:%M} UTC",)
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 0
    fleet.clock.set(window[1])
    await controller.refresh_cml()
    assert _by_name(controller)["maint"].status == CMLWorkerStatus.STOPPING
    auto = [e for e in controller.events_for(worker_id) if "auto-stopped" in e.type]
    assert len(auto) == 1 and "idle for 120 min" in auto[0].data["reason"]


async def test_an_unknown_schedule_is_refused_with_the_known_ones(fleet):
    await fleet.launch("w")
    schedules = SchedulesConfig.model_validate(
        {"emea-class": ScheduleConfig(zone="Europe/Paris"), "us-class": {"zone": "UTC"}}
    )
    config = fleet.config.model_copy(update={"schedules": schedules})
    controller = fleet.make_controller(config)
    await controller.refresh_ec2()
    worker_id = _by_name(controller)["w"].id
    refused = await controller.set_policy([worker_id], PolicyChange(schedule="nope"))
    assert not refused.ok
    assert refused.refused == (
        "w: schedule 'nope' is not in the config (known: emea-class, us-class)",
    )
    accepted = await controller.set_policy([worker_id], PolicyChange(schedule="us-class"))
    assert accepted.ok
    assert _by_name(controller)["w"].policy.effective.schedule == "us-class"


async def test_without_schedules_a_name_is_refused_saying_none_are_configured(fleet):
    await fleet.launch("w")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    worker_id = _by_name(controller)["w"].id
    refused = await controller.set_policy([worker_id], PolicyChange(schedule="x"))
    assert "no schedules are configured" in refused.refused[0]


async def test_read_only_and_bad_values_are_refused(fleet):
    await fleet.launch("w")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    worker_id = _by_name(controller)["w"].id
    bad = await controller.set_policy([worker_id], PolicyChange(idle_minutes=0))
    assert bad.refused == ("w: idle minutes must be a whole number from 1 to 10080 (got 0)",)
    read_only = fleet.make_controller(read_only=True)
    await read_only.refresh_ec2()
    refused = await read_only.set_policy([worker_id], PolicyChange(idle_minutes=60))
    assert not refused.ok and "read-only" in refused.refused[0]


def test_evaluate_idle_takes_the_effective_threshold_and_maintenance(frozen_clock):
    worker = make_worker(frozen_clock, "w1", idle_minutes=50)
    config_idle = {"auto_stop": True, "threshold_minutes": 45, "snooze_minutes": 0}
    from cmltui.config import Config

    config = Config.model_validate({"regions": ["us-east-1"], "idle": config_idle})
    now = frozen_clock()
    assert evaluate_idle(worker, config.idle, now).should_stop_now
    worker.set_policy(PolicyChange(idle_minutes=90))
    effective = resolve_policy(worker, config, {}, None, now)
    verdict = evaluate_idle(worker, config.idle, now, effective=effective)
    assert not verdict.should_stop_now and verdict.stop_in_minutes == 40.0
    worker.set_policy(PolicyChange(idle_minutes=None, maintenance=(now, now + timedelta(hours=1))))
    effective = resolve_policy(worker, config, {}, None, now)
    blocked = evaluate_idle(worker, config.idle, now, effective=effective)
    assert not blocked.should_stop_now
    assert blocked.reason.startswith("maintenance until ")


async def test_the_header_counts_idle_workers_by_their_own_threshold(fleet):
    """Seen in tmux: a row marked idle (z) by its 1-minute schedule while the header said z0
    (it counted with the global threshold only)."""
    await fleet.launch("quick")
    await fleet.launch("plain")
    config = _auto_stop_config(fleet, threshold=45)
    config = config.model_copy(update={"idle": config.idle.model_copy(update={"auto_stop": False})})
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    workers = _by_name(controller)
    assert (await controller.set_policy([workers["quick"].id], PolicyChange(idle_minutes=5))).ok
    fleet.clock.advance(minutes=10)
    await controller.refresh_cml()
    workers = _by_name(controller)
    assert workers["quick"].is_idle and not workers["plain"].is_idle
    assert controller.current().totals.idle == 1
