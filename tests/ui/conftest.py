"""UI fixtures: the dashboard on the real controller (moto server + fake CML + TinyDB file).

``real_fleet`` builds a ``FleetController`` over moto's EC2/CloudWatch (HTTP on 127.0.0.1), the
fake CML server (HTTPS on 127.0.0.1, verified with its CA) and a TinyDB file in ``tmp_path``,
creates workers through the controller itself, then refreshes once so the table has data.
``open_app`` runs ``CmlTuiApp`` headless on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cmltui.aws.gateway import AwsGateway
from cmltui.cml.pool import CmlApiClientPool
from cmltui.config import Config, RefreshConfig
from cmltui.domain.clock import FrozenClock
from cmltui.services.controller import FleetController
from cmltui.ui.app import CmlTuiApp

#: Loops far apart: a test sees the refreshes it asks for, not background ones.
QUIET_REFRESH = RefreshConfig(
    ec2_seconds=3600, cloudwatch_seconds=3600, cml_seconds=3600, cml_license_seconds=3600
)


@dataclass
class RealFleet:
    controller: FleetController
    config: Config
    #: worker name -> EC2 instance id
    instance_ids: dict[str, str]
    clock: FrozenClock

    def id_of(self, name: str) -> str:
        worker = self.controller.find(name)
        assert worker is not None, name
        return worker.id


@pytest.fixture
def fleet_config(gateway_config: Config, cml_config: Config, fake_cml) -> Config:
    """AWS from moto, CML from the fake server (endpoints keyed by instance id)."""
    cml = cml_config.cml.model_copy(update={"endpoint_template": fake_cml.endpoint_template})
    return gateway_config.model_copy(update={"cml": cml, "refresh": QUIET_REFRESH})


@pytest.fixture
def make_fleet(
    fleet_config: Config, aws_session, fake_cml, store, frozen_clock: FrozenClock
) -> Callable:
    """``await make_fleet([(name, region, labs_running), ...], read_only=False)``."""

    async def make(
        workers: list[tuple[str, str, int]], *, read_only: bool = False, licensed: bool = True
    ) -> RealFleet:
        gateway = AwsGateway(fleet_config, session=aws_session)
        pool = CmlApiClientPool(fleet_config)
        builder = FleetController(fleet_config, store, gateway, pool, clock=frozen_clock)
        await builder.load()
        instance_ids: dict[str, str] = {}
        for name, region, running_labs in workers:
            result = await builder.create_worker(name, region)
            assert result.ok, result.summary()
            worker = builder.find(name)
            assert worker is not None and worker.state.aws_instance_id
            instance_ids[name] = worker.state.aws_instance_id
            fake_cml.add_worker(
                worker.state.aws_instance_id,
                labs=max(running_labs, 1),
                running_labs=running_labs,
                licensed=licensed,
                registration_seconds=0.1,
                evolve=False,
            )
        await builder.refresh_once()
        if not read_only:
            return RealFleet(builder, fleet_config, instance_ids, frozen_clock)
        # Read-only: a second controller over the same store, as `cmltui --read-only` would be.
        await builder.stop()
        controller = FleetController(
            fleet_config,
            store,
            AwsGateway(fleet_config, session=aws_session),
            CmlApiClientPool(fleet_config),
            clock=frozen_clock,
            read_only=True,
        )
        await controller.refresh_once()
        return RealFleet(controller, fleet_config, instance_ids, frozen_clock)

    return make


@pytest.fixture
def open_app(tmp_path: Path):
    """``async with open_app(fleet, size=(120, 35)) as (app, pilot):`` on the real controller."""

    @asynccontextmanager
    async def run(
        fleet: RealFleet, *, size: tuple[int, int] = (120, 35), read_only: bool = False
    ) -> AsyncIterator[tuple[CmlTuiApp, object]]:
        app = CmlTuiApp(
            fleet.controller,
            config=fleet.config,
            aws_profile_label="moto",
            read_only=read_only,
            clock=fleet.clock,
            log_path=tmp_path / "log" / "cmltui.log",
        )
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            yield app, pilot
            assert app.unexpected_errors == []

    return run
