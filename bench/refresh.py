"""One full refresh (EC2 + CloudWatch + CML) of a big fleet: cmltui's controller against a
per-worker poller in the style of the original web service, in the same run, on the same servers.

    python bench/refresh.py --workers 1000 --regions 4 [--cycles 3] [--json]

Requests are counted server-side (moto's and the fake CML's own counters) for both sides, and
cross-checked against the controller's RefreshSummary. The servers run in a child process.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DEFAULT_REFRESH_SECONDS,
    StoreWriteTimer,
    cpu_seconds,
    emit,
    median,
    print_table,
    print_targets,
    regions_for,
    use_demo_credentials,
)
from _servers import FleetProcess

from cmltui.config import load_config
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.wiring import build_runtime

#: The original service's bound on workers refreshed at once (asyncio.Semaphore(10)).
BASELINE_CONCURRENCY = 10


class CpuMeter:
    """CPU seconds used by this process and by the servers' process since it was made."""

    def __init__(self, fleet: FleetProcess) -> None:
        self._fleet = fleet
        self._client = cpu_seconds()
        self._servers = fleet.cpu_seconds()

    def take(self) -> dict[str, float]:
        return {
            "cpu_client_seconds": round(cpu_seconds() - self._client, 2),
            "cpu_servers_seconds": round(self._fleet.cpu_seconds() - self._servers, 2),
        }


# ---------------------------------------------------------------------------- cmltui
async def measure_cmltui(fleet: FleetProcess, config: Any, cycles: int) -> dict[str, Any]:
    """The import cycle, then ``cycles`` steady-state cycles of ``refresh_once``."""
    runtime = build_runtime(config)
    controller = runtime.controller
    writes = StoreWriteTimer(runtime.store)
    runs: list[dict[str, Any]] = []
    try:
        for number in range(cycles + 1):
            fleet.reset_counts()
            cpu = CpuMeter(fleet)
            summary = await controller.refresh_once()
            cpu_figures = cpu.take()
            server = fleet.counts()
            runs.append(
                {
                    "seconds": summary.seconds,
                    "server": server,
                    "summary": {
                        "aws_requests": summary.aws_requests,
                        "cml_requests": summary.cml_requests,
                        "cml_logins": summary.cml_logins,
                    },
                    "store": writes.take(),
                    "errors": len(summary.errors),
                    "cycle": number,
                    **cpu_figures,
                }
            )
        snapshots = controller.current().changed
    finally:
        await runtime.aclose()
    running_by_region = Counter(s.region for s in snapshots if s.status == CMLWorkerStatus.RUNNING)
    workers_by_region = Counter(s.region for s in snapshots)
    return {
        "import_cycle": _side_figures(runs[:1]),
        "steady": _side_figures(runs[1:]),
        "workers_by_region": dict(workers_by_region),
        "running_by_region": dict(running_by_region),
        "available_workers": sum(1 for s in snapshots if s.service_status.value == "available"),
    }


def _side_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median wall time and median per-cycle counts of a list of cycles."""

    def med(key: str) -> float:
        return median(run["server"][key] for run in runs)

    figures: dict[str, Any] = {
        "cycles": len(runs),
        "seconds": median(run["seconds"] for run in runs),
        "seconds_each": [round(run["seconds"], 3) for run in runs],
        "aws_requests": med("aws_requests"),
        "cml_requests": med("cml_requests"),
        "cml_logins": med("cml_logins"),
        "cml_workers_asked": med("cml_workers_asked"),
        # CPU seconds used during the cycle by this process and by the servers' process.
        "cpu_client_seconds": median(run["cpu_client_seconds"] for run in runs),
        "cpu_servers_seconds": median(run["cpu_servers_seconds"] for run in runs),
        "aws_by_action": runs[-1]["server"]["aws_by_action"],
        "cml_by_path": runs[-1]["server"]["cml_by_path"],
    }
    if "summary" in runs[0]:
        figures["client_counts"] = runs[-1]["summary"]
        figures["counts_agree"] = all(
            run["summary"][key] == run["server"][key]
            for run in runs
            for key in ("aws_requests", "cml_requests", "cml_logins")
        )
        figures["store"] = runs[-1]["store"]
        figures["errors"] = runs[-1]["errors"]
    else:
        figures["errors"] = runs[-1]["errors"]
    return figures


# ---------------------------------------------------------------------------- baseline
class BaselinePoller:
    """Per worker per cycle, as the original web service does it (spec: upstream §2.3, §3):
    a new boto3 client for every AWS call (about seven per running worker), then a new HTTP
    client and a new CML login, one call after another, at most 10 workers at a time."""

    def __init__(self, info: dict[str, Any], regions: list[str]) -> None:
        import boto3

        self._endpoint = info["aws_endpoint_url"]
        self._workers = info["workers"]
        self._username = info["cml_username"]
        self._password = info["cml_password"]
        # One session, like boto3's default session the service uses; clients are made per call.
        self._session = boto3.Session(
            aws_access_key_id="cmltui-bench", aws_secret_access_key="cmltui-bench"
        )
        for region in regions:  # botocore's lazy set-up is not thread-safe: do it once here
            self._client("ec2", region)
            self._client("cloudwatch", region)
        self.errors: Counter[str] = Counter()

    def _client(self, service: str, region: str) -> Any:
        return self._session.client(service, region_name=region, endpoint_url=self._endpoint)

    # -- AWS, one call per thread hop, a new client each time -------------------------------
    def _ec2(self, region: str, method: str, **kwargs: Any) -> dict[str, Any]:
        return getattr(self._client("ec2", region), method)(**kwargs)

    def _cloudwatch_metric(
        self, region: str, instance_id: str, namespace: str, metric: str
    ) -> float | None:
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        reply = self._client("cloudwatch", region).get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now,
            Period=30,
            Statistics=["Average"],
        )
        points = reply.get("Datapoints") or []
        return points[0]["Average"] if points else None

    async def _aws(self, worker: dict[str, Any]) -> bool:
        """The EC2 sync and, when running, the CloudWatch pair; True when running."""
        region, instance_id = worker["region"], worker["instance_id"]
        await asyncio.to_thread(
            self._ec2,
            region,
            "describe_instance_status",
            InstanceIds=[instance_id],
            IncludeAllInstances=True,
        )
        reply = await asyncio.to_thread(
            self._ec2, region, "describe_instances", InstanceIds=[instance_id]
        )
        instance = reply["Reservations"][0]["Instances"][0]
        await asyncio.to_thread(
            self._ec2, region, "describe_images", ImageIds=[instance["ImageId"]]
        )
        await asyncio.to_thread(
            self._ec2,
            region,
            "describe_tags",
            Filters=[
                {"Name": "resource-id", "Values": [instance_id]},
                {"Name": "resource-type", "Values": ["instance"]},
            ],
        )
        running = instance["State"]["Name"] == "running"
        if running:
            # The CloudWatch step describes the instance again before asking for metrics.
            await asyncio.to_thread(
                self._ec2, region, "describe_instances", InstanceIds=[instance_id]
            )
            await asyncio.to_thread(
                self._cloudwatch_metric, region, instance_id, "AWS/EC2", "CPUUtilization"
            )
            await asyncio.to_thread(
                self._cloudwatch_metric, region, instance_id, "CWAgent", "mem_used_percent"
            )
        return running

    # -- CML: a fresh client and a fresh login every cycle ---------------------------------
    async def _cml(self, worker: dict[str, Any]) -> None:
        import httpx

        base = worker["endpoint"] + "/api/v0/"
        # The service's default: verify_ssl=False (self-signed certificates), 30 s timeout.
        async with httpx.AsyncClient(base_url=base, verify=False, timeout=30.0) as http:
            info = (await http.get("system_information")).json()
            reply = await http.post(
                "authenticate", json={"username": self._username, "password": self._password}
            )
            reply.raise_for_status()
            headers = {"Authorization": f"Bearer {reply.json()}"}
            await http.get("system_stats", headers=headers)
            if info.get("ready"):
                lab_ids = await http.get("labs", params={"show_all": "true"}, headers=headers)
                for lab_id in lab_ids.json():
                    await http.get(f"labs/{lab_id}", headers=headers)
            await http.get("licensing", headers=headers)
            await http.get("telemetry/events", headers=headers)

    async def _worker(self, worker: dict[str, Any], limit: asyncio.Semaphore) -> None:
        async with limit:
            try:
                if await self._aws(worker):
                    await self._cml(worker)
            except Exception as err:  # the service logs and carries on with the next worker
                self.errors[type(err).__name__] += 1

    async def cycle(self) -> float:
        limit = asyncio.Semaphore(BASELINE_CONCURRENCY)
        started = time.perf_counter()
        await asyncio.gather(*(self._worker(w, limit) for w in self._workers))
        return time.perf_counter() - started


async def measure_baseline(
    fleet: FleetProcess, info: dict[str, Any], regions: list[str], cycles: int
) -> dict[str, Any]:
    poller = BaselinePoller(info, regions)
    runs = []
    for number in range(cycles):
        fleet.reset_counts()
        cpu = CpuMeter(fleet)
        seconds = await poller.cycle()
        runs.append(
            {
                **cpu.take(),
                "seconds": seconds,
                "server": fleet.counts(),
                "errors": sum(poller.errors.values()),
                "cycle": number,
            }
        )
        poller.errors.clear()
    return _side_figures(runs)


# ---------------------------------------------------------------------------- targets
def check_targets(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's request and speed targets, evaluated on the measured figures."""
    cmltui, baseline = result["cmltui"], result["baseline"]
    steady = cmltui["steady"]
    describe_pages = sum(math.ceil(n / 1000) for n in cmltui["workers_by_region"].values())
    cloudwatch_calls = sum(math.ceil(n / 500) for n in cmltui["running_by_region"].values())
    aws_bound = describe_pages + cloudwatch_calls
    by_path = steady["cml_by_path"]
    # Workers polled this cycle: the controllers the fake CML answered (a steady cycle asks
    # system_information only on a full read or a change, so it cannot count polls).
    polled = max(steady["cml_workers_asked"], 1)
    lab_reads = by_path.get("labs/{id}", 0)
    licence_reads = by_path.get("licensing", 0)
    fixed_per_worker = (steady["cml_requests"] - lab_reads - licence_reads) / polled
    per_worker = steady["cml_requests"] / polled
    return {
        "aws_bound": aws_bound,
        "aws_within_bound": steady["aws_requests"] <= aws_bound,
        "aws_fewer_x": _ratio(baseline["aws_requests"], steady["aws_requests"]),
        "aws_fewer_at_least_100x": _ratio(baseline["aws_requests"], steady["aws_requests"]) >= 100,
        "cml_logins_per_steady_cycle": steady["cml_logins"],
        "cml_workers_polled_per_cycle": polled,
        "cml_requests_per_polled_worker_excluding_lab_and_licence_reads": round(
            fixed_per_worker, 2
        ),
        "cml_requests_per_polled_worker": round(per_worker, 2),
        "cml_at_most_2_2_per_polled_worker": per_worker <= 2.2,
        "cml_licence_reads_per_cycle": licence_reads,
        "cml_lab_reads_per_cycle": lab_reads,
        # Every lab is read in the import cycle: the fleet's lab count.
        "cml_labs_total": cmltui["import_cycle"]["cml_by_path"].get("labs/{id}", 0),
        # Which labs changed is the fake's secret: lab reads are shown next to the total.
        "cml_at_most_4_per_worker_excluding_lab_reads": fixed_per_worker <= 4,
        "faster_x": _ratio(baseline["seconds"], steady["seconds"]),
        "faster_at_least_10x": _ratio(baseline["seconds"], steady["seconds"]) >= 10,
        "store_write_ms_max": steady["store"]["write_ms_max"],
        # refresh_once runs the EC2, CloudWatch and CML loop bodies: one write each at most.
        "store_writes_per_full_refresh": steady["store"]["writes"],
        "store_one_write_per_loop_cycle_within_100ms": steady["store"]["writes"] <= 3
        and steady["store"]["write_ms_max"] <= 100,
    }


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 1) if denominator else float("inf")


# ---------------------------------------------------------------------------- main
async def run(args: argparse.Namespace) -> dict[str, Any]:
    regions = regions_for(args.regions)
    use_demo_credentials()
    fleet = FleetProcess(
        workers=args.workers,
        regions=regions,
        seed=args.seed,
        refresh_seconds=dict(DEFAULT_REFRESH_SECONDS),
    )
    started = time.perf_counter()
    info = fleet.start()
    setup_seconds = time.perf_counter() - started
    try:
        config, _, _ = load_config(Path(info["config_path"]))
        cmltui = await measure_cmltui(fleet, config, args.cycles)
        baseline = await measure_baseline(fleet, info, regions, args.baseline_cycles)
    finally:
        fleet.stop()
    result: dict[str, Any] = {
        "bench": "refresh",
        "workers": args.workers,
        "regions": len(regions),
        "setup_seconds": round(setup_seconds, 1),
        "cmltui": cmltui,
        "baseline": baseline,
    }
    steady = cmltui["steady"]
    result["ratios_cmltui_over_baseline"] = {
        key: round(steady[key] / baseline[key], 4) if baseline[key] else None
        for key in ("seconds", "aws_requests", "cml_requests", "cml_logins")
    }
    result["targets"] = check_targets(result)
    return result


def print_report(result: dict[str, Any]) -> None:
    cmltui, baseline = result["cmltui"], result["baseline"]
    print(
        f"refresh: {result['workers']} workers in {result['regions']} regions "
        f"(fleet set up in {result['setup_seconds']} s)"
    )
    rows = []
    for label, side in (
        ("cmltui first cycle (import)", cmltui["import_cycle"]),
        ("cmltui steady cycle", cmltui["steady"]),
        ("baseline per-worker poller", baseline),
    ):
        rows.append(
            [
                label,
                side["cycles"],
                side["seconds"],
                side["aws_requests"],
                side["cml_requests"],
                side["cml_logins"],
                side["errors"],
            ]
        )
    ratios = result["ratios_cmltui_over_baseline"]
    rows.append(
        [
            "ratio cmltui/baseline",
            "",
            ratios["seconds"],
            ratios["aws_requests"],
            ratios["cml_requests"],
            ratios["cml_logins"],
            "",
        ]
    )
    print_table(
        rows, ["", "cycles", "wall s (median)", "AWS req", "CML req", "CML logins", "errors"]
    )
    print()
    print("cmltui steady AWS requests:", cmltui["steady"]["aws_by_action"])
    print("cmltui steady CML requests:", cmltui["steady"]["cml_by_path"])
    print("baseline AWS requests:     ", baseline["aws_by_action"])
    print("baseline CML requests:     ", baseline["cml_by_path"])
    for label, side in (("cmltui steady", cmltui["steady"]), ("baseline", baseline)):
        print(
            f"{label} CPU per cycle: this process {side['cpu_client_seconds']} s, "
            f"servers {side['cpu_servers_seconds']} s"
        )
    print("controller's own counts agree with the servers':", cmltui["steady"]["counts_agree"])
    print("store writes (last steady cycle):", cmltui["steady"]["store"])
    print()
    print_targets(result["targets"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=3, help="steady cycles of cmltui")
    parser.add_argument(
        "--baseline-cycles",
        type=int,
        default=None,
        help="cycles of the baseline (default: --cycles)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.baseline_cycles is None:
        args.baseline_cycles = args.cycles
    if args.cycles < 1 or args.baseline_cycles < 1:
        parser.error("cycles must be >= 1")
    result = asyncio.run(run(args))
    if args.json:
        emit(result, True)
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
