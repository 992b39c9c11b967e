"""What the fleet model runs on: the servers a run shares (``Parts``), its counters
(``Stats``), its configuration, and ``FleetModelBase``, the plumbing of ``FleetModel`` (a fresh
controller, store and clock per example, the colleague's boto3 clients, the view of EC2, picks,
and the bookkeeping of the workers seen). The base has no rules: ``fleet_machine.FleetModel``
holds them all, and the invariants."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import boto3
from botocore.config import Config as BotoConfig
from hypothesis import note
from hypothesis.stateful import RuleBasedStateMachine

from cmltui.aws.gateway import AwsGateway
from cmltui.cml.pool import CmlApiClientPool
from cmltui.config import AwsConfig, Config, IdleConfig, RefreshConfig
from cmltui.demo.fake_cml import FakeCmlServer
from cmltui.demo.moto_server import MotoServer
from cmltui.domain.clock import FrozenClock
from cmltui.services.controller import FleetController
from cmltui.store import open_store
from tests.fixtures.cml_fixtures import make_cml_settings
from tests.fixtures.moto_fixtures import CML_AMI_NAME
from tests.reliability.fleet_world import (
    KNOWN_DEFECTS,
    REGIONS,
    REPEATED_ID,
    Instance,
    describe_all,
)

USER = "model"


@dataclass
class Parts:
    """The servers a run shares across examples (each example resets them)."""

    moto: MotoServer
    cml: FakeCmlServer
    session: boto3.Session
    ca_file: Path
    password_env: str
    work_dir: Path


@dataclass
class Stats:
    examples: int = 0
    steps: int = 0
    checks: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    #: How often situations worth reaching were reached (copies, detached workers, ...).
    seen: dict[str, int] = field(default_factory=dict)


def make_config(parts: Parts, data_dir: Path) -> Config:
    return Config(
        regions=list(REGIONS),
        cml_worker_ami_names=dict.fromkeys(REGIONS, CML_AMI_NAME),
        aws=AwsConfig(
            endpoint_url=parts.moto.url,
            total_max_attempts=3,
            connect_timeout_seconds=2.0,
            read_timeout_seconds=10.0,
        ),
        data_dir=str(data_dir),
        cml=make_cml_settings(
            parts.ca_file,
            endpoint_template=parts.cml.endpoint_template,
            password_env=parts.password_env,
        ),
        refresh=RefreshConfig(ec2_seconds=1, cloudwatch_seconds=5, cml_seconds=1),
        idle=IdleConfig(threshold_minutes=30, auto_stop=False, snooze_minutes=60),
    )


class FleetModelBase(RuleBasedStateMachine):
    """The plumbing of ``FleetModel``; no rules, no invariants."""

    parts: ClassVar[Parts | None] = None
    stats: ClassVar[Stats] = Stats()
    #: Known defects the checks do not report (and the rules step around).
    tolerate: ClassVar[frozenset[str]] = KNOWN_DEFECTS

    def __init__(self) -> None:
        super().__init__()
        parts = self.parts
        assert parts is not None, "set FleetModel.parts first"
        type(self).stats.examples += 1
        parts.moto.reset()
        parts.cml.reset()
        self.loop = asyncio.new_event_loop()
        self.clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        self.data_dir = Path(tempfile.mkdtemp(prefix="fleet-model-", dir=parts.work_dir))
        self.config = make_config(parts, self.data_dir / "data")
        no_retries = BotoConfig(retries={"mode": "standard", "total_max_attempts": 1})
        self.ec2 = {
            region: parts.session.client(
                "ec2", region_name=region, endpoint_url=parts.moto.url, config=no_retries
            )
            for region in REGIONS
        }
        self.amis = {
            region: ec2.register_image(
                Name=CML_AMI_NAME, Description="CML worker", RootDeviceName="/dev/sda1"
            )["ImageId"]
            for region, ec2 in self.ec2.items()
        }
        self.store: Any = None
        self._view: dict[str, Instance] | None = None
        self.controller: FleetController | None = None
        self._open()
        #: Every instance launched, in launch order (picks index into it).
        self.instance_order: list[str] = []
        self.instance_region: dict[str, str] = {}
        #: Worker ids in the order first seen, and the instance each was bound to then.
        self.worker_order: list[str] = []
        self.bindings: dict[str, str | None] = {}
        self.serial = 0

    # -- plumbing -------------------------------------------------------------------------------
    def _open(self) -> None:
        self.store = open_store(self.config.data_path, clock=self.clock)
        self.controller = FleetController(
            self.config,
            self.store,
            AwsGateway(self.config, session=self.parts.session),
            CmlApiClientPool(self.config, clock=self.clock),
            clock=self.clock,
            user=USER,
        )
        self.run(self.controller.load())

    def _close(self) -> None:
        if self.controller is not None:
            self.run(self.controller.stop())
            self.controller = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def teardown(self) -> None:
        try:
            self._close()
        finally:
            self.loop.close()
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    @property
    def ctl(self) -> FleetController:
        assert self.controller is not None
        return self.controller

    def step(self, name: str, text: str) -> None:
        if name == "outside":
            self._view = None  # the colleague changed EC2
        stats = type(self).stats
        stats.steps += 1
        stats.rules[name] = stats.rules.get(name, 0) + 1
        note(f"[{name}] {text}")

    def seen(self, what: str, happened: object = True) -> None:
        if happened:
            seen = type(self).stats.seen
            seen[what] = seen.get(what, 0) + 1

    def expect(self, problems: list[str], examined: int = 1) -> None:
        type(self).stats.checks += max(examined, 1)
        assert not problems, "\n".join(problems)

    def workers(self) -> dict[str, Any]:
        return {w.id: w for w in self.ctl.workers()}

    def view(self, *, fresh: bool = False) -> dict[str, Instance]:
        """EC2 as moto says now; kept between steps while nothing could have changed it."""
        if fresh or self._view is None:
            self._view = describe_all(self.ec2)
        return self._view

    def pick_instance(self, pick: int, *, live: bool = False) -> str | None:
        ids = self.instance_order
        if live:
            view = self.view()
            ids = [i for i in ids if view[i].state != "terminated"]
        # From the newest: what a colleague just launched (a copy, say) is the likeliest to be
        # changed next, and picks shrink towards it.
        return ids[-1 - pick % len(ids)] if ids else None

    def pick_workers(self, chosen: Sequence[int]) -> list[str]:
        """Workers by index; the same one twice only when REPEATED_ID is not tolerated."""
        if not self.worker_order:
            return []
        given = [self.worker_order[p % len(self.worker_order)] for p in chosen]
        self.seen(f"situation reached: {REPEATED_ID}", len(set(given)) < len(given))
        return list(dict.fromkeys(given)) if REPEATED_ID in self.tolerate else given

    def _launch(self, region: str, tags: dict[str, str]) -> str:
        reply = self.ec2[region].run_instances(
            ImageId=self.amis[region],
            InstanceType="c5.2xlarge",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ]
            if tags
            else [],
        )
        instance_id = reply["Instances"][0]["InstanceId"]
        self._view = None
        self._known(instance_id, region)
        return instance_id

    def _known(self, instance_id: str, region: str) -> None:
        self.instance_order.append(instance_id)
        self.instance_region[instance_id] = region
        # Its CML controller, so that a full refresh polls a real (fake) CML over HTTPS.
        self.parts.cml.add_worker(instance_id, clock=self.clock, evolve=False)

    def _adopt_new_workers(self, allowed: bool, why: str) -> list[Any]:
        """Record the workers that appeared; fail if none may appear now."""
        current = self.ctl.workers()
        new = [w for w in current if w.id not in self.bindings]
        if new and not allowed:
            self.expect([f"workers appeared after {why}: {[w.id for w in new]}"])
        order = {iid: n for n, iid in enumerate(self.instance_order)}
        for worker in sorted(new, key=lambda w: order.get(w.aws_instance_id or "", 1 << 30)):
            self.worker_order.append(worker.id)
            self.bindings[worker.id] = worker.aws_instance_id
        return new
