"""The scene of the schedule tests: a fleet at local noon and helpers to read the outcome.

Wall times are chosen in an ``Etc/GMT±N`` zone where the test starts at 12:xx local ("noon"),
so windows are given as minutes from then."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cmltui.config import SchedulesConfig
from tests.fixtures.moto_fixtures import MOTO_REGIONS

EAST, WEST = MOTO_REGIONS


def zone_at_noon(now: datetime) -> str:
    """An Etc/GMT zone in which ``now`` is in the 12:00 hour (Etc/GMT+N is UTC-N)."""
    offset = (now.hour - 12) % 24
    if offset > 12:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{offset:+d}"


class Scene:
    """The fleet at local noon, with schedule tables and helpers to read the outcome."""

    def __init__(self, fleet, moto_client) -> None:
        self.fleet = fleet
        self.ec2 = moto_client("ec2", EAST)
        self.moto_client = moto_client
        self.noon = fleet.clock().replace(second=0) + timedelta(minutes=1)
        self.zone = zone_at_noon(self.noon)
        fleet.clock.set(self.noon)

    def local(self, minutes_from_noon: float) -> str:
        at = self.noon + timedelta(minutes=minutes_from_noon)
        return at.astimezone(ZoneInfo(self.zone)).strftime("%H:%M")

    def label(self, minutes_from_noon: float) -> str:
        """As a reason names an opening: "Mon 14:05"."""
        at = self.noon + timedelta(minutes=minutes_from_noon)
        return at.astimezone(ZoneInfo(self.zone)).strftime("%a %H:%M")

    def window(self, opens: float, closes: float, days: str = "mon-sun") -> dict:
        return {"days": days, "start": self.local(opens), "end": self.local(closes)}

    def config(self, schedules: dict, **idle):
        tables = {name: {"zone": self.zone, **table} for name, table in schedules.items()}
        config = self.fleet.config
        return config.model_copy(
            update={
                "schedules": SchedulesConfig.model_validate(tables),
                "idle": config.idle.model_copy(update=idle),
            }
        )

    def at(self, minutes_from_noon: float) -> None:
        self.fleet.clock.set(self.noon + timedelta(minutes=minutes_from_noon))

    async def launch(self, name: str, schedule: str | None, region: str = EAST, **kw) -> str:
        instance_id = await self.fleet.launch(name, region=region, **kw)
        if schedule is not None:
            self.moto_client("ec2", region).create_tags(
                Resources=[instance_id], Tags=[{"Key": "cmltui:schedule", "Value": schedule}]
            )
        return instance_id

    def stop_outside(self, *instance_ids: str, region: str = EAST) -> None:
        self.moto_client("ec2", region).stop_instances(InstanceIds=list(instance_ids))

    def start_outside(self, *instance_ids: str, region: str = EAST) -> None:
        self.moto_client("ec2", region).start_instances(InstanceIds=list(instance_ids))

    def count(self, operation: str) -> int:
        return self.fleet.moto.request_counts[("ec2", operation)]


def by_name(controller) -> dict:
    return {s.name: s for s in controller.workers()}


def events_of(controller, worker_id: str, kind: str) -> list:
    return [e for e in controller.events_for(worker_id) if e.type == f"cmltui.worker.{kind}.v1"]


async def learn_boot(scene: Scene, controller, instance_id: str, boot_minutes: float) -> None:
    """Stop and start the worker outside cmltui and let its CML take ``boot_minutes``."""
    scene.stop_outside(instance_id)
    await controller.refresh_once()
    scene.start_outside(instance_id)
    cml = scene.fleet.cml.worker(instance_id)
    cml.ready = False
    await controller.refresh_once()
    scene.fleet.clock.advance(minutes=boot_minutes)
    cml.ready = True
    await controller.refresh_once()
