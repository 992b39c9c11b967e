"""Issue 12: several controllers (dashboards, cron jobs) on one data file."""

from __future__ import annotations

from cmltui.domain.enums import CMLWorkerStatus


def _by_name(controller):
    return {w.name: w for w in controller.workers()}


def _auto_stop_config(fleet):
    return fleet.config.model_copy(
        update={
            "idle": fleet.config.idle.model_copy(
                update={"auto_stop": True, "threshold_minutes": 30, "snooze_minutes": 0}
            )
        }
    )


async def test_two_dashboards_never_both_auto_stop(fleet):
    config = _auto_stop_config(fleet)
    await fleet.launch("idle-one")
    await fleet.launch("idle-two")
    first = fleet.make_controller(config, user="alice")
    second = fleet.make_controller(config, user="bob")
    await first.refresh_once()
    await second.refresh_once()
    fleet.clock.advance(minutes=40)
    for _ in range(3):
        await first.refresh_cml()
        await second.refresh_cml()
        await first.refresh_ec2()
        await second.refresh_ec2()
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 1, "one batched stop, once"
    assert first.current().policy_runner == first.holder_id
    assert second.current().policy_runner == first.holder_id
    assert first.current().policy_runner_is_me and not second.current().policy_runner_is_me
    for controller in (first, second):
        for name in ("idle-one", "idle-two"):
            assert _by_name(controller)[name].status in (
                CMLWorkerStatus.STOPPING,
                CMLWorkerStatus.STOPPED,
            )
        auto = [e for e in controller.events_for(None, limit=1000) if "auto-stopped" in e.type]
        assert len(auto) == 2, "each worker's auto-stop recorded once, seen by both"


async def test_the_lease_passes_on_when_its_holder_stops(fleet):
    config = _auto_stop_config(fleet)
    await fleet.launch("late-idle")
    first = fleet.make_controller(config, user="alice")
    second = fleet.make_controller(config, user="bob")
    await first.refresh_once()
    await second.refresh_once()
    assert second.current().policy_runner == first.holder_id
    await first.stop()  # a clean exit gives the lease up at once
    fleet.clock.advance(minutes=40)
    await second.refresh_cml()
    await second.refresh_ec2()
    assert second.current().policy_runner_is_me
    assert _by_name(second)["late-idle"].status in (
        CMLWorkerStatus.STOPPING,
        CMLWorkerStatus.STOPPED,
    )


async def test_another_process_action_shows_in_the_next_cycle(fleet):
    await fleet.launch("shared")
    dashboard = fleet.make_controller(user="alice")
    command = fleet.make_controller(user="bob")
    await dashboard.refresh_ec2()
    await command.refresh_ec2()
    result = await command.set_auto_stop_opt_out([_by_name(command)["shared"].id], True)
    assert result.ok
    assert not _by_name(dashboard)["shared"].auto_stop_opt_out
    await dashboard.refresh_ec2()
    assert _by_name(dashboard)["shared"].auto_stop_opt_out
    # The dashboard's own later writes keep bob's change.
    stopped = await dashboard.stop_workers([_by_name(dashboard)["shared"].id])
    assert stopped.ok
    await command.refresh_ec2()
    shared = _by_name(command)["shared"]
    assert shared.auto_stop_opt_out and shared.status in (
        CMLWorkerStatus.STOPPING,
        CMLWorkerStatus.STOPPED,
    )
