"""``c`` copies the endpoint only of a worker that can be connected to (the seed's
``can_connect``) and otherwise says why (issue 15 #14); on the real controller."""

from __future__ import annotations

import pytest

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.ui.widgets.detail import DetailPane
from tests.ui.test_real_controller import notices, select, settle


@pytest.fixture
def fleet_config(fleet_config):
    """Every CML cycle reads system information, so a controller going not-ready shows at once."""
    refresh = fleet_config.refresh.model_copy(update={"cml_full_read_cycles": 1})
    return fleet_config.model_copy(update={"refresh": refresh})


async def _press_c(app, pilot, worker_id: str) -> list[str]:
    before = len(notices(app))
    await select(app, pilot, worker_id)
    await pilot.press("c")
    await settle(app, pilot)
    return notices(app)[before:]


async def test_c_copies_only_a_connectable_endpoint_and_says_why_not(
    make_fleet, open_app, fake_cml
):
    fleet = await make_fleet(
        [("ready", "us-east-1", 0), ("booting", "us-east-1", 0), ("halted", "us-east-1", 0)]
    )
    controller = fleet.controller
    fake_cml.worker(fleet.instance_ids["booting"]).ready = False
    await controller.stop_workers([fleet.id_of("halted")])
    for _ in range(20):
        await controller.refresh_ec2()
        if controller.find("halted").state.status == CMLWorkerStatus.STOPPED:
            break
    await controller.refresh_cml()
    assert controller.find("halted").state.status == CMLWorkerStatus.STOPPED
    assert controller.find("booting").state.service_status == CMLServiceStatus.STARTING
    async with open_app(fleet) as (app, pilot):
        app.copy_to_clipboard("before")

        said = await _press_c(app, pilot, fleet.id_of("halted"))
        assert app.clipboard == "before"
        assert said == ["Nothing copied: halted is not ready for connections (it is stopped)."]

        said = await _press_c(app, pilot, fleet.id_of("booting"))
        assert app.clipboard == "before"
        assert said == [
            "Nothing copied: booting is not ready for connections (CML is starting, not available)."
        ]

        said = await _press_c(app, pilot, fleet.id_of("ready"))
        endpoint = controller.find("ready").state.https_endpoint
        assert endpoint and app.clipboard == endpoint
        assert said == [f"Copied {endpoint}"]


async def test_the_detail_pane_shows_the_ssh_login_of_cml_worker_username(
    make_fleet, open_app, fleet_config
):
    """``cml_worker_username`` was parsed and never used (issue 15 #12)."""
    fleet = await make_fleet([("shell", "us-east-1", 0)])
    state = fleet.controller.find("shell").state
    address = state.public_ip or state.private_ip
    assert address and fleet_config.cml_worker_username == "admin"
    async with open_app(fleet) as (app, pilot):
        await select(app, pilot, fleet.id_of("shell"))
        text = app.main_screen.query_one(DetailPane).text()
        assert f"admin@{address}" in text
