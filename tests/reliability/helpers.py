"""Small helpers shared by the reliability tests."""

from __future__ import annotations

from typing import Any

import boto3

from cmltui.aws.gateway import AwsGateway
from cmltui.cml.pool import CmlApiClientPool
from cmltui.config import Config
from cmltui.services.controller import FleetController
from cmltui.services.snapshot import SourceHealth, WorkerSnapshot
from cmltui.store import open_store


def by_name(controller: FleetController) -> dict[str, WorkerSnapshot]:
    return {s.name: s for s in controller.workers()}


def errors_by_source(controller: FleetController) -> dict[str, SourceHealth]:
    return {h.source: h for h in controller.current().errors}


def with_aws(config: Config, **aws: Any) -> Config:
    """``config`` with some ``[aws]`` keys replaced (attempts, timeouts)."""
    return config.model_copy(update={"aws": config.aws.model_copy(update=aws)})


def with_cml(config: Config, **cml: Any) -> Config:
    """``config`` with some ``[cml]`` keys replaced (timeouts, CA bundle)."""
    return config.model_copy(update={"cml": config.cml.model_copy(update=cml)})


def controller_with_session(fleet, session: boto3.Session, config: Config | None = None):
    """A controller like ``fleet.make_controller`` but on its own boto3 session (own events,
    own credentials); closed with the fleet."""
    config = config or fleet.config
    store = open_store(config.data_path, clock=fleet.clock)
    controller = FleetController(
        config,
        store,
        AwsGateway(config, session=session),
        CmlApiClientPool(config, clock=fleet.clock),
        clock=fleet.clock,
        user="tester",
    )
    fleet.controllers.append(controller)
    fleet.stores.append(store)
    return controller


async def close_controller(fleet, controller: FleetController) -> None:
    """Stop a controller and release its data file (so another one can take the lock)."""
    await controller.stop()
    index = fleet.controllers.index(controller)
    fleet.controllers.pop(index)
    fleet.stores.pop(index).close()
