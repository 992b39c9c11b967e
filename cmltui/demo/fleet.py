"""The embedded demo fleet: moto's EC2/CloudWatch server and the fake CML server on 127.0.0.1.

``DemoFleet`` starts both, creates N CML workers in moto through cmltui's own gateway in mixed
states (running with labs, running idle, stopped, CML not ready, licence unregistered), and
writes a ready-to-use config (plus the fake's CA file and a 0600 password file). No AWS account,
network or credentials are needed. ``cmltui demo-servers`` and ``cmltui --demo`` use it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cmltui.config import ConnectConfig

DEMO_CML_USERNAME = "admin"
#: Demo-only credentials, accepted by the fake CML server and nowhere else.
DEMO_CML_PASSWORD = "cmltui-demo-only"
DEMO_AMI_NAME = "CML-2.9.0-Ubuntu-22.04"
DEFAULT_DEMO_REGIONS = ("us-east-1", "us-west-2")

#: The mix of worker kinds, repeated across the fleet: (kind, running labs, total labs).
_WORKER_MIX: tuple[tuple[str, int, int], ...] = (
    ("running-labs", 2, 3),
    ("running-idle", 0, 2),
    ("stopped", 0, 1),
    ("running-labs", 1, 2),
    ("not-ready", 0, 0),
    ("unlicensed", 1, 1),
    ("stopped", 0, 2),
    ("running-idle", 0, 0),
)
_CML_VERSIONS = ("2.9.0", "2.9.0", "2.8.1+build.6", "2.7.2")


#: Extra labs on the busy workers, so the labs screen shows several owners and states.
_EXTRA_LABS: tuple[tuple[str, str, int, str], ...] = (
    ("Team Blue: SD-WAN failover", "erin", 6, "STOPPED"),
    ("Exam prep: OSPF areas", "dave", 4, "STARTED"),
    ("Scratch", "admin", 2, "DEFINED_ON_CORE"),
)
#: Start, stop and wipe complete this long after CML says yes, as on a real controller.
_DEMO_LAB_TRANSITION_SECONDS = 2.0
#: A worker created in the dashboard (``n``) gets its controller on the first request for its
#: instance; CML on it says "not ready" this long, as a booting controller does, then is up.
DEMO_NEW_WORKER_BOOT_SECONDS = 8.0
#: ``--team``: the DynamoDB table on the demo's moto server, and how long the command for a
#: second dashboard stays on screen before the dashboard starts.
DEMO_TEAM_TABLE = "cmltui-demo-team"
TEAM_HINT_SECONDS = 3.0


def _new_worker_controller(fake_cml: Any, key: str, boot_seconds: float) -> Any:
    """The controller of an instance created after the demo started (an EC2 instance id, the
    demo AMI's CML): fresh, in evaluation mode, no labs, ready after ``boot_seconds``."""
    if not key.startswith("i-"):
        return None
    worker = fake_cml.add_worker(
        key, labs=0, running_labs=0, licensed=False, evaluation=True, ready=False, evolve=False
    )
    _add_demo_labs(worker, "new", -1)
    boot = threading.Timer(boot_seconds, setattr, (worker, "ready", True))
    boot.daemon = True
    boot.start()
    return worker


def _add_demo_labs(fake: Any, kind: str, index: int) -> None:
    """The first worker (busy) gets the extra labs; every worker's lab actions take a moment,
    as a real controller's do."""
    fake.set_faults(lab_transition_seconds=_DEMO_LAB_TRANSITION_SECONDS)
    if kind == "running-labs" and index == 0:
        for title, owner, nodes, state in _EXTRA_LABS:
            fake.add_lab(title, owner=owner, nodes=nodes, state=state)


@dataclass
class DemoInfo:
    """What ``demo-servers`` prints as one JSON line."""

    config_path: str
    aws_endpoint_url: str
    cml_endpoints: dict[str, str]
    cml_username: str
    cml_password: str
    cml_ca_file: str
    demo_license_token: str
    data_dir: str


def _run_in_fresh_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion even when the caller already runs an event loop."""
    result: dict[str, Any] = {}

    def runner() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller's thread
            result["error"] = err

    thread = threading.Thread(target=runner, name="demo-setup")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def write_toml(path: Path, document: dict[str, Any]) -> None:
    """Write a two-level TOML document (scalars first, then one table per dict of dicts)."""
    lines: list[str] = []
    tables = {k: v for k, v in document.items() if isinstance(v, dict) and k in _TABLES}
    for key, value in document.items():
        if key not in tables:
            lines.append(f"{key} = {_toml_value(value)}")
    for table, values in tables.items():
        lines.append("")
        lines.append(f"[{table}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


_TABLES = ("aws", "cml", "refresh", "idle", "cost")


class DemoFleet:
    """Both demo servers and the fleet in them; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        workers: int = 8,
        regions: tuple[str, ...] | list[str] = DEFAULT_DEMO_REGIONS,
        seed: int = 7,
        folder: str | os.PathLike[str] | None = None,
        refresh_seconds: dict[str, float] | None = None,
        put_cloudwatch_metrics: bool = True,
        new_worker_boot_seconds: float = DEMO_NEW_WORKER_BOOT_SECONDS,
        team: bool = False,
    ) -> None:
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.workers = workers
        self.regions = list(regions) or list(DEFAULT_DEMO_REGIONS)
        self.seed = seed
        self._own_folder = folder is None
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="cmltui-demo-"))
        self.refresh_seconds = refresh_seconds or {
            "ec2_seconds": 5.0,
            "cloudwatch_seconds": 30.0,
            "cml_seconds": 5.0,
            "cml_license_seconds": 30.0,
        }
        self.put_cloudwatch_metrics = put_cloudwatch_metrics
        self.new_worker_boot_seconds = new_worker_boot_seconds
        #: A team's fleet: the store is a DynamoDB table on the demo's moto server (issue 17),
        #: so several dashboards (``cmltui --config <its config>``) share it; auto-stop is on,
        #: so one of them is the policy runner and the others say which.
        self.team = team
        self.moto: Any = None
        self.cml: Any = None
        self.info: DemoInfo | None = None
        self.instance_ids: dict[str, str] = {}  # worker name -> instance id

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> DemoInfo:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> DemoInfo:
        from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN, FakeCmlServer
        from cmltui.demo.moto_server import MotoServer

        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)
        # moto signs nothing, but botocore needs some credentials to sign with.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "cmltui-demo")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "cmltui-demo")
        self.moto = MotoServer().start()
        self.cml = FakeCmlServer(
            username=DEMO_CML_USERNAME, password=DEMO_CML_PASSWORD, seed=self.seed
        ).start()
        ca_file = self.cml.write_ca_file(self.folder / "fake-cml-ca.pem")
        password_file = self.folder / "cml-password"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(DEMO_CML_PASSWORD)
        config_path = self.folder / "config.toml"
        document = self._config_document(Path(ca_file), password_file)
        write_toml(config_path, document)
        if self.team:
            self._create_team_table()
        endpoints = _run_in_fresh_loop(self._populate(config_path))
        cml, boot_seconds = self.cml, self.new_worker_boot_seconds
        cml.serve_new_workers(lambda key: _new_worker_controller(cml, key, boot_seconds))
        self.info = DemoInfo(
            config_path=str(config_path),
            aws_endpoint_url=self.moto.url,
            cml_endpoints=endpoints,
            cml_username=DEMO_CML_USERNAME,
            cml_password=DEMO_CML_PASSWORD,
            cml_ca_file=str(ca_file),
            demo_license_token=DEMO_LICENSE_TOKEN,
            data_dir=str(self.folder / "data"),
        )
        return self.info

    def stop(self) -> None:
        for server in (self.cml, self.moto):
            if server is not None:
                try:
                    server.stop()
                except Exception as err:  # stopping one must not keep the other running
                    print(f"cmltui demo: stopping a server failed: {err}", file=sys.stderr)
        self.cml = self.moto = None
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    # ------------------------------------------------------------------ setup
    def _config_document(self, ca_file: Path, password_file: Path) -> dict[str, Any]:
        return {
            "regions": self.regions,
            "data_dir": str(self.folder / "data"),
            "cml_worker_ami_names": {region: DEMO_AMI_NAME for region in self.regions},
            "cml_worker_instance_type": "c5.2xlarge",
            "aws": {
                "endpoint_url": self.moto.url,
                "total_max_attempts": 3,
                "connect_timeout_seconds": 2.0,
                "read_timeout_seconds": 30.0,
            },
            "cml": {
                "username": DEMO_CML_USERNAME,
                "password_env": "CMLTUI_DEMO_CML_PASSWORD",
                "password_file": str(password_file),
                "verify_tls": True,
                "ca_bundle": str(ca_file),
                "endpoint_template": self.cml.url.rstrip("/") + "/w/{instance_id}",
                "license_poll_seconds": 0.5,
                "license_timeout_seconds": 20.0,
            },
            "refresh": self.refresh_seconds,
            "idle": {"threshold_minutes": 30, "auto_stop": self.team, "snooze_minutes": 60},
            **({"store": {"backend": "dynamodb", "table": DEMO_TEAM_TABLE}} if self.team else {}),
        }

    def _create_team_table(self) -> None:
        """The team's table on moto's server, as ``cmltui store init`` makes it."""
        import boto3

        from cmltui.store.dynamodb_schema import create_table

        client = boto3.Session(
            aws_access_key_id="cmltui-demo", aws_secret_access_key="cmltui-demo"
        ).client("dynamodb", region_name=self.regions[0], endpoint_url=self.moto.url)
        create_table(client, DEMO_TEAM_TABLE)

    async def _populate(self, config_path: Path) -> dict[str, str]:
        """Create the workers in moto with cmltui's own gateway, and their CML controllers."""
        import boto3

        from cmltui.aws.gateway import AwsGateway
        from cmltui.config import load_config

        config, _, _ = load_config(config_path)
        session = boto3.Session(
            aws_access_key_id="cmltui-demo", aws_secret_access_key="cmltui-demo"
        )
        for region in self.regions:
            ec2 = session.client("ec2", region_name=region, endpoint_url=self.moto.url)
            ec2.register_image(
                Name=DEMO_AMI_NAME,
                Description="Cisco Modeling Labs 2.9.0 (demo)",
                Architecture="x86_64",
                RootDeviceName="/dev/sda1",
            )
        gateway = AwsGateway(config, session=session)
        rng = random.Random(self.seed)
        endpoints: dict[str, str] = {}
        to_stop: dict[str, list[str]] = {}
        running_ids: dict[str, list[str]] = {}
        try:
            for index in range(self.workers):
                region = self.regions[index % len(self.regions)]
                kind, running_labs, labs = _WORKER_MIX[index % len(_WORKER_MIX)]
                name = (
                    f"cml-lab-{index + 1:02d}" if self.workers < 100 else f"cml-lab-{index + 1:04d}"
                )
                dto = await gateway.create_instance(region, f"demo-{index + 1:04d}", name)
                self.instance_ids[name] = dto.aws_instance_id
                fake = self.cml.add_worker(
                    dto.aws_instance_id,
                    version=_CML_VERSIONS[index % len(_CML_VERSIONS)],
                    labs=labs,
                    running_labs=running_labs,
                    licensed=kind != "unlicensed",
                    ready=kind != "not-ready",
                    evolve=kind != "running-idle",
                    seed=self.seed * 1000 + index,
                )
                _add_demo_labs(fake, kind, index)
                endpoints[name] = self.cml.base_url_for(dto.aws_instance_id)
                if kind == "stopped":
                    to_stop.setdefault(region, []).append(dto.aws_instance_id)
                else:
                    running_ids.setdefault(region, []).append(dto.aws_instance_id)
            for region, instance_ids in to_stop.items():
                await gateway.stop_instances(region, instance_ids)
        finally:
            await gateway.close()
        if self.put_cloudwatch_metrics:
            self._put_cpu_metrics(session, running_ids, rng)
        return endpoints

    def _put_cpu_metrics(
        self, session: Any, running_ids: dict[str, list[str]], rng: random.Random
    ) -> None:
        """A few CloudWatch CPU points per running instance (moto has none by default)."""
        now = datetime.now(UTC)
        for region, instance_ids in running_ids.items():
            cloudwatch = session.client(
                "cloudwatch", region_name=region, endpoint_url=self.moto.url
            )
            metric_data = [
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    "Timestamp": now - timedelta(minutes=5 * step),
                    "Value": round(rng.uniform(2, 60), 1),
                    "Unit": "Percent",
                }
                for instance_id in instance_ids
                for step in range(2)
            ]
            for start in range(0, len(metric_data), 1000):
                cloudwatch.put_metric_data(
                    Namespace="AWS/EC2", MetricData=metric_data[start : start + 1000]
                )


# ---------------------------------------------------------------------------- entry points
def serve_demo_fleet(
    *, workers: int, regions: list[str], seed: int, folder: str | None = None, team: bool = False
) -> int:
    """``cmltui demo-servers``: print one JSON line, serve until interrupted, stop cleanly."""
    stop_requested = threading.Event()

    def request_stop(*_: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    fleet = DemoFleet(
        workers=workers,
        regions=regions or list(DEFAULT_DEMO_REGIONS),
        seed=seed,
        folder=folder,
        team=team,
    )
    try:
        info = fleet.start()
        print(json.dumps(asdict(info)), flush=True)
        while not stop_requested.wait(0.5):
            pass
    finally:
        fleet.stop()
        print("cmltui demo: servers stopped", file=sys.stderr)
    return 0


def demo_connect(default: ConnectConfig) -> ConnectConfig:
    """The demo's ``[connect]``: the stand-in that says what a real command would run (the
    demo's instances have made-up addresses)."""
    standin = [sys.executable, "-m", "cmltui.demo.connect_standin"]
    command = [*standin, "{name}", "{username}", "{host}"]
    return default.model_copy(update={"command": command})


def team_hint(config_path: str) -> str:
    """What to run for a second dashboard on the team demo's fleet."""
    return (
        "cmltui demo (team): the store is a DynamoDB table on the demo's moto server. "
        "Open a second dashboard on the same fleet in another terminal, while this one runs:\n"
        f"    cmltui --config {config_path}"
    )


def run_demo_dashboard(
    *,
    workers: int = 8,
    read_only: bool = False,
    connect: ConnectConfig | None = None,
    team: bool = False,
) -> int:
    """``cmltui --demo``: the dashboard on an in-process demo fleet, data in a temp folder.

    ``connect``: the ``[connect]`` section of ``--config`` (the demo's own config has none).
    ``team`` (``--team``): the store is a DynamoDB table on the demo's moto server; the command
    for a second dashboard on the same fleet is printed before the dashboard starts.
    """
    from cmltui.config import load_config
    from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN
    from cmltui.launch import run_dashboard

    print("Starting the demo fleet (moto + fake CML on 127.0.0.1)...", file=sys.stderr)
    with DemoFleet(workers=workers, team=team) as info:
        config, _, _ = load_config(info.config_path)
        config = config.model_copy(update={"connect": connect or demo_connect(config.connect)})
        if team:
            print(team_hint(info.config_path), file=sys.stderr, flush=True)
            time.sleep(TEAM_HINT_SECONDS)  # read before the dashboard takes the screen
        return run_dashboard(config, read_only=read_only, demo_licence_token=DEMO_LICENSE_TOKEN)
