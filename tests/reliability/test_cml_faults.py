"""CML faults through the controller (the fake server's knobs): the right service status and
message on the faulty worker, the other worker's telemetry still updating, recovery by itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmltui.demo.fake_cml import FakeCmlServer
from cmltui.demo.fake_cml.certs import generate_self_signed
from cmltui.demo.fake_cml.labs import STARTED, STOPPED
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from tests.reliability.helpers import by_name, errors_by_source, with_cml


async def _pair(fleet, config=None):
    """Two running workers, ``sick`` and ``well``, after a first clean cycle."""
    sick = await fleet.launch("sick", running_labs=1)
    well = await fleet.launch("well", running_labs=1)
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    workers = by_name(controller)
    assert workers["sick"].service_status == CMLServiceStatus.AVAILABLE
    assert not controller.current().errors
    return controller, sick, well


async def _cml_cycle_keeps_well_updating(fleet, controller, well_key: str):
    """One CML cycle; asserts the healthy worker was polled and its telemetry moved on."""
    history_before = len(by_name(controller)["well"].cpu_history)
    requests_before = fleet.cml.worker(well_key).request_count
    await controller.refresh_cml()
    well = by_name(controller)["well"]
    assert len(well.cpu_history) == history_before + 1
    assert fleet.cml.worker(well_key).request_count > requests_before
    assert well.service_status == CMLServiceStatus.AVAILABLE
    assert well.last_error is None
    assert well.cpu_utilization is not None
    return by_name(controller)["sick"]


async def _recovers(fleet, controller, sick_key: str) -> None:
    fleet.cml.worker(sick_key).clear_faults()
    await controller.refresh_cml()
    sick = by_name(controller)["sick"]
    assert sick.service_status == CMLServiceStatus.AVAILABLE
    assert sick.last_error is None
    assert sick.active_labs_count == 1
    assert not controller.current().errors


async def test_502_not_ready_is_a_starting_service_not_an_error(fleet):
    controller, sick_key, well_key = await _pair(fleet)
    fleet.cml.worker(sick_key).set_faults(not_ready_502=True)
    sick = await _cml_cycle_keeps_well_updating(fleet, controller, well_key)
    assert sick.service_status == CMLServiceStatus.STARTING
    assert sick.last_error is None
    assert sick.status == CMLWorkerStatus.RUNNING
    assert not controller.current().errors
    await _recovers(fleet, controller, sick_key)


@pytest.mark.parametrize(
    ("knobs", "service", "message"),
    [
        ({"http_500": True}, CMLServiceStatus.ERROR, "system_information: HTTP 500"),
        ({"malformed_json": True}, CMLServiceStatus.ERROR, "system_information: malformed JSON"),
        (
            {"wrong_shape": True},
            CMLServiceStatus.ERROR,
            "system_information: unexpected shape",
        ),
        ({"connection": "reset"}, CMLServiceStatus.UNAVAILABLE, "connection dropped"),
        ({"connection": "close"}, CMLServiceStatus.UNAVAILABLE, "connection dropped"),
    ],
    ids=["http-500", "malformed-json", "wrong-shape", "reset", "close"],
)
async def test_a_broken_controller_shows_its_error_on_that_worker_only(
    fleet, knobs, service, message
):
    controller, sick_key, well_key = await _pair(fleet)
    fleet.cml.worker(sick_key).set_faults(**knobs)
    sick = await _cml_cycle_keeps_well_updating(fleet, controller, well_key)
    assert sick.service_status == service
    assert sick.last_error is not None and message in sick.last_error
    assert sick.last_error_since == fleet.clock()
    errors = errors_by_source(controller)
    assert list(errors) == ["cml:sick"]
    assert errors["cml:sick"].error == sick.last_error
    await _recovers(fleet, controller, sick_key)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("system_stats", "system_stats: malformed JSON"),
        ("labs", "labs: malformed JSON"),
        ("telemetry/events", "telemetry/events: malformed JSON"),
    ],
)
async def test_one_bad_endpoint_spoils_only_its_own_figures(fleet, path, message):
    controller, sick_key, well_key = await _pair(fleet)
    sick_cml = fleet.cml.worker(sick_key)
    sick_cml.set_faults(malformed_json=True, only_paths=frozenset({path}))
    # A lean cycle reads the labs only when the feed names a lab event: its owner restarts
    # the running lab (the active count stays 1 either way).
    running = next(lab for lab in sick_cml.labs_snapshot() if lab.running)
    sick_cml.set_lab_state(running.id, STOPPED)
    sick_cml.set_lab_state(running.id, STARTED)
    requests_before = sick_cml.counters.requests_by_path["labs"]
    sick = await _cml_cycle_keeps_well_updating(fleet, controller, well_key)
    assert sick_cml.counters.requests_by_path["labs"] > requests_before  # labs were asked
    assert sick.service_status == CMLServiceStatus.AVAILABLE  # it answers; one part is bad
    assert sick.last_error is not None and message in sick.last_error
    # What the other calls brought still arrived.
    assert sick.active_labs_count == 1  # counted now, or the last count when labs failed
    assert (sick.memory_utilization is None) == (path == "system_stats")
    await _recovers(fleet, controller, sick_key)


async def test_answers_slower_than_the_read_timeout_are_a_timeout_on_that_worker(fleet):
    config = with_cml(fleet.config, read_timeout_seconds=0.5, total_timeout_seconds=2.0)
    controller, sick_key, well_key = await _pair(fleet, config)
    fleet.cml.worker(sick_key).set_faults(delay_seconds=1.0)
    sick = await _cml_cycle_keeps_well_updating(fleet, controller, well_key)
    assert sick.service_status == CMLServiceStatus.UNAVAILABLE
    assert sick.last_error is not None and "read timeout" in sick.last_error
    await _recovers(fleet, controller, sick_key)


async def test_tokens_revoked_mid_cycle_cost_one_relogin_and_no_error(fleet):
    controller, sick_key, well_key = await _pair(fleet)
    fake = fleet.cml.worker(sick_key)
    logins_before = fake.login_count
    fake.revoke_tokens()
    await _cml_cycle_keeps_well_updating(fleet, controller, well_key)
    sick = by_name(controller)["sick"]
    # Several calls met the 401 at once: one re-login served them all.
    assert fake.login_count == logins_before + 1
    assert fake.counters.responses_by_status[401] >= 1
    assert sick.service_status == CMLServiceStatus.AVAILABLE
    assert sick.last_error is None
    assert not controller.current().errors


async def test_a_certificate_from_another_ca_is_a_tls_error_on_that_worker(fleet):
    controller, sick_key, well_key = await _pair(fleet)
    # The same controller answering with a certificate the pinned CA did not sign.
    with FakeCmlServer(certificate=generate_self_signed()) as impostor:
        impostor.add_worker(sick_key, running_labs=1, clock=fleet.clock)
        worker = controller.find("sick")
        worker.update_endpoint(impostor.base_url_for(sick_key), worker.state.public_ip)
        sick = await _cml_cycle_keeps_well_updating(fleet, controller, well_key)
        assert sick.service_status == CMLServiceStatus.UNAVAILABLE
        assert sick.last_error is not None and "TLS failure" in sick.last_error
        assert "CERTIFICATE_VERIFY_FAILED" in sick.last_error
        assert impostor.worker(sick_key).login_count == 0  # no password sent to it
    # The next EC2 cycle points it back at the genuine controller: the error clears.
    await controller.refresh_ec2()
    await _recovers(fleet, controller, sick_key)


async def test_a_pinned_ca_that_signed_nothing_here_fails_tls_but_ec2_goes_on(
    fleet, moto_client, tmp_path: Path
):
    await fleet.launch("a")
    stopped = await fleet.launch("b")
    other_ca = generate_self_signed().write_ca_file(tmp_path / "other-ca.pem")
    controller = fleet.make_controller(with_cml(fleet.config, ca_bundle=str(other_ca)))
    await controller.refresh_once()
    errors = errors_by_source(controller)
    assert set(errors) == {"cml:a", "cml:b"}
    assert all("TLS failure" in h.error for h in errors.values())
    assert fleet.cml.worker(stopped).login_count == 0
    moto_client("ec2").stop_instances(InstanceIds=[stopped])
    await controller.refresh_ec2()
    assert by_name(controller)["b"].status == CMLWorkerStatus.STOPPED
    assert list(errors_by_source(controller)) == ["cml:a"]  # a stopped worker has no CML error
