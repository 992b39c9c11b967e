"""The week bench's fleet: the demo servers (moto in server mode, the fake CML over HTTPS) in this
process, sharing the bench's injected clock, 20 workers created through cmltui's own gateway, and
cmltui's ``FleetController`` over a real data file.

The servers run in this process (not in ``_servers``' child) because the bench drives them as an
operator and the classes' users would: the fake CML's admin helpers (``add_lab``,
``set_lab_state``, ``add_activity``, the ``ready`` flag) and moto's in-process backend, read for
the ground truth of what ran. The fake CML's clock is the bench's ``FrozenClock``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The instance type of the fleet and its on-demand price (the metal class a CML worker needs).
INSTANCE_TYPE = "m5zn.metal"
HOURLY_USD = 3.9641
AMI_NAME = "CML-2.9.0-Ubuntu-22.04"
PASSWORD_ENV = "CMLTUI_WEEK_CML_PASSWORD"
#: moto's default account (its backends are keyed by account, then region).
MOTO_ACCOUNT = "123456789012"


@dataclass
class WorkerPlan:
    """One worker of the simulated fleet: where it runs and what governs it."""

    name: str
    region: str
    schedule: str | None  # its cmltui:schedule tag (None: ad-hoc use only)
    boot_minutes: float  # its CML's usual boot-to-ready time
    instance_id: str = ""
    worker_id: str = ""
    lab_ids: list[str] = field(default_factory=list)
    user_id: str = ""


def policy_config(
    base: Any,
    *,
    schedules: dict[str, dict[str, Any]],
    cycle_seconds: float,
    idle_minutes: int,
    snooze_minutes: int,
) -> Any:
    """cmltui's settings for the week: the schedules, the idle rule, the bench's cycle."""
    from cmltui.config import CostConfig, IdleConfig, RefreshConfig, SchedulesConfig

    return base.model_copy(
        update={
            "refresh": RefreshConfig(
                ec2_seconds=cycle_seconds,
                cloudwatch_seconds=max(cycle_seconds, 300.0),
                cml_seconds=cycle_seconds,
                cml_license_seconds=3600.0,
            ),
            "idle": IdleConfig(
                threshold_minutes=idle_minutes, auto_stop=True, snooze_minutes=snooze_minutes
            ),
            "schedules": SchedulesConfig.model_validate(schedules),
            "cost": CostConfig(hourly_usd={INSTANCE_TYPE: HOURLY_USD}, time_zone="UTC"),
        }
    )


class WeekFleet:
    """Start the servers, create the workers (all stopped), build the controller; ``close()``."""

    def __init__(self, clock: Any, plans: list[WorkerPlan], seed: int) -> None:
        self.clock = clock
        self.plans = plans
        self.seed = seed
        self.folder = Path(tempfile.mkdtemp(prefix="cmltui-week-"))
        self.moto: Any = None
        self.cml: Any = None
        self.session: Any = None
        self.base_config: Any = None
        self.controller: Any = None
        self.store: Any = None
        self._ec2: dict[str, Any] = {}

    # ------------------------------------------------------------------ servers and fleet
    async def start(self, config_for: Any) -> Any:
        """Servers, AMIs, instances (tagged, then stopped), fake controllers, the controller.
        ``config_for(base_config)`` gives cmltui's config (schedules, idle rule)."""
        import boto3

        from cmltui.aws.gateway import AwsGateway
        from cmltui.cml.pool import CmlApiClientPool
        from cmltui.config import AwsConfig, CmlConfig, Config
        from cmltui.demo.fake_cml import DEMO_PASSWORD, DEMO_USERNAME, FakeCmlServer
        from cmltui.demo.moto_server import MotoServer
        from cmltui.services.controller import FleetController
        from cmltui.store import open_store

        os.environ[PASSWORD_ENV] = DEMO_PASSWORD
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "cmltui-week")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "cmltui-week")
        os.environ.pop("AWS_PROFILE", None)
        self.moto = MotoServer().start()
        self.cml = FakeCmlServer(clock=self.clock, seed=self.seed).start()
        ca_file = self.cml.write_ca_file(self.folder / "fake-cml-ca.pem")
        regions = sorted({plan.region for plan in self.plans})
        self.base_config = Config(
            regions=regions,
            data_dir=str(self.folder / "data"),
            cml_worker_ami_names=dict.fromkeys(regions, AMI_NAME),
            cml_worker_instance_type=INSTANCE_TYPE,
            aws=AwsConfig(
                endpoint_url=self.moto.url,
                total_max_attempts=3,
                connect_timeout_seconds=2.0,
                read_timeout_seconds=30.0,
            ),
            cml=CmlConfig(
                username=DEMO_USERNAME,
                password_env=PASSWORD_ENV,
                ca_bundle=str(ca_file),
                endpoint_template=self.cml.endpoint_template,
                connect_timeout_seconds=2.0,
                read_timeout_seconds=10.0,
                total_timeout_seconds=20.0,
            ),
        )
        config = config_for(self.base_config)
        self.session = boto3.Session()
        for region in regions:
            self._ec2[region] = self.session.client(
                "ec2", region_name=region, endpoint_url=self.moto.url
            )
            self._ec2[region].register_image(
                Name=AMI_NAME, Description="CML worker", RootDeviceName="/dev/sda1"
            )
        gateway = AwsGateway(config, session=self.session)
        try:
            for index, plan in enumerate(self.plans):
                dto = await gateway.create_instance(plan.region, f"week-{index + 1:02d}", plan.name)
                plan.instance_id = dto.aws_instance_id
                if plan.schedule:
                    self._ec2[plan.region].create_tags(
                        Resources=[plan.instance_id],
                        Tags=[{"Key": "cmltui:schedule", "Value": plan.schedule}],
                    )
                fake = self.cml.add_worker(
                    plan.instance_id, labs=0, running_labs=0, evolve=False, seed=self.seed + index
                )
                plan.user_id = next(iter(fake.user_ids.values()))
                for seat in range(2):
                    owner = f"student{index + 1:02d}{'ab'[seat]}"
                    plan.lab_ids.append(fake.add_lab(f"Class lab {seat + 1}", owner=owner, nodes=3))
            for region in regions:
                ids = [p.instance_id for p in self.plans if p.region == region]
                await gateway.stop_instances(region, ids)
        finally:
            await gateway.close()
        self.store = open_store(config.data_path, clock=self.clock)
        self.controller = FleetController(
            config,
            self.store,
            AwsGateway(config, session=self.session),
            CmlApiClientPool(config, clock=self.clock),
            clock=self.clock,
            user="week-bench",
        )
        return self.controller

    # ------------------------------------------------------------------ what users do
    def fake(self, plan: WorkerPlan) -> Any:
        return self.cml.worker(plan.instance_id)

    def ec2_state(self, plan: WorkerPlan) -> str:
        """The instance's state in moto's in-process backend (the ground truth, no request)."""
        from moto.ec2.models import ec2_backends

        instance = ec2_backends[MOTO_ACCOUNT][plan.region].get_instance(plan.instance_id)
        return str(instance._state.name)

    def start_outside(self, plan: WorkerPlan) -> None:
        """A user starts the worker in the AWS console (not through cmltui)."""
        self._ec2[plan.region].start_instances(InstanceIds=[plan.instance_id])

    async def close(self) -> None:
        if self.controller is not None:
            await self.controller.stop()
        if self.store is not None:
            self.store.close()
        for server in (self.cml, self.moto):
            if server is not None:
                server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
