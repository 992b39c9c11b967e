"""What one CML cycle asks of each controller (real fake CML over HTTPS, moto's server).

The steady cycle asks the activity feed and the stats only; what rarely changes (system
information, the labs list, the licence) is read when an event or a state change says it may
have changed, and on a full read every ``refresh.cml_full_read_cycles`` cycles.
"""

from __future__ import annotations

from collections import Counter

from cmltui.domain.enums import CMLServiceStatus

FULL_EVERY = 4


def _paths(fake) -> Counter[str]:
    """Requests by endpoint, without the API prefix and the lab ids."""
    counts: Counter[str] = Counter()
    for path, n in fake.counters.requests_by_path.items():
        tail = path.split("/api/v0/", 1)[-1].split("?", 1)[0]
        counts["labs/{id}" if tail.startswith("labs/") else tail] += n
    return counts


def _controller(fleet, **refresh):
    refresh = {"cml_full_read_cycles": FULL_EVERY, **refresh}
    config = fleet.config.model_copy(
        update={"refresh": fleet.config.refresh.model_copy(update=refresh)}
    )
    return fleet.make_controller(config)


def _by_name(controller) -> dict:
    return {s.name: s for s in controller.workers()}


async def test_steady_cycles_ask_activity_and_stats_and_a_full_read_every_n(fleet):
    instance_id = await fleet.launch("steady-cml", running_labs=1, labs=3)
    controller = _controller(fleet)
    await controller.refresh_once()
    fake = fleet.cml.worker(instance_id)
    fake.reset_counters()
    for _ in range(FULL_EVERY * 3):
        await controller.refresh_cml()
    seen = _paths(fake)
    cycles = FULL_EVERY * 3
    assert seen["telemetry/events"] == cycles
    assert seen["system_stats"] == cycles
    # One full read in every FULL_EVERY cycles: system information and the labs list.
    assert seen["system_information"] == 3
    assert seen["labs"] == 3
    assert seen["labs/{id}"] == 0  # no lab event: no lab's details read again
    assert fake.login_count == 0  # the token from the first cycle is reused
    per_cycle = fake.request_count / cycles
    assert per_cycle <= 2 + 2 / FULL_EVERY + 1 / FULL_EVERY  # (+ a licence read at most)
    assert _by_name(controller)["steady-cml"].active_labs_count == fake.running_lab_count()


async def test_a_lab_event_reads_the_labs_list_and_that_lab_in_the_same_cycle(fleet):
    instance_id = await fleet.launch("lab-event", running_labs=1, labs=3)
    controller = _controller(fleet, cml_full_read_cycles=1000)
    await controller.refresh_once()
    fake = fleet.cml.worker(instance_id)
    await controller.refresh_cml()
    lab = fake.labs_snapshot()[0]
    fake.set_lab_state(lab.id, "STOPPED" if lab.running else "STARTED")
    fake.reset_counters()
    await controller.refresh_cml()
    seen = _paths(fake)
    assert seen["labs"] == 1
    assert seen["labs/{id}"] == 1  # the one lab the event named
    assert seen["system_information"] == 0
    assert _by_name(controller)["lab-event"].active_labs_count == fake.running_lab_count()
    fake.reset_counters()
    await controller.refresh_cml()
    assert _paths(fake)["labs"] == 0  # nothing new: the labs are not read again


async def test_a_controller_going_down_in_a_lean_cycle_shows_in_that_cycle(fleet):
    instance_id = await fleet.launch("goes-down")
    controller = _controller(fleet, cml_full_read_cycles=1000)
    await controller.refresh_once()
    await controller.refresh_cml()
    assert _by_name(controller)["goes-down"].service_status == CMLServiceStatus.AVAILABLE
    fake = fleet.cml.worker(instance_id)
    fake.set_faults(connection="reset")
    await controller.refresh_cml()
    worker = _by_name(controller)["goes-down"]
    assert worker.service_status == CMLServiceStatus.UNAVAILABLE
    assert worker.last_error
    # Recovery reads everything again (system information first), then settles to lean.
    fake.clear_faults()
    fake.reset_counters()
    await controller.refresh_cml()
    assert _by_name(controller)["goes-down"].service_status == CMLServiceStatus.AVAILABLE
    assert _paths(fake)["system_information"] == 1
    fake.reset_counters()
    await controller.refresh_cml()
    assert _paths(fake)["system_information"] == 0


async def test_a_licence_event_reads_the_licence_in_that_cycle(fleet):
    instance_id = await fleet.launch("lic-event")
    controller = _controller(fleet, cml_full_read_cycles=1000)
    await controller.refresh_once()
    await controller.refresh_cml()
    fake = fleet.cml.worker(instance_id)
    fake.reset_counters()
    await controller.refresh_cml()
    assert _paths(fake)["licensing"] == 0
    fake.add_activity("00000000-0000-4000-a000-000000000000", category="license_info")
    fake.reset_counters()
    await controller.refresh_cml()
    assert _paths(fake)["licensing"] == 1
