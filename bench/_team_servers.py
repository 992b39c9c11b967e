"""bench/team.py's demo servers: the team demo fleet (moto with EC2, CloudWatch and DynamoDB, the
fake CML over HTTPS, a DynamoDB table made as ``cmltui store init`` makes it) in a child process,
as the other benches run them (``_servers``), with a few commands of its own: arm and clear
DynamoDB throttles, and the EC2 stop/start requests seen per instance.
"""

from __future__ import annotations

import multiprocessing
import traceback
from typing import Any

from _servers import FleetProcess, _handle, answer_commands


def _serve_team(conn: Any, options: dict[str, Any]) -> None:
    """The child: start the team fleet, describe it, then answer commands until ``stop``."""
    from cmltui.demo.fleet import DEMO_TEAM_TABLE, DemoFleet

    fleet = DemoFleet(team=True, put_cloudwatch_metrics=False, **options)
    try:
        info = fleet.start()
    except BaseException:
        conn.send({"error": traceback.format_exc()})
        return
    regions = fleet.regions
    conn.send(
        {
            "config_path": info.config_path,
            "aws_endpoint_url": info.aws_endpoint_url,
            "table": DEMO_TEAM_TABLE,
            "region": regions[0],
            "workers": [
                {
                    "name": name,
                    "instance_id": instance_id,
                    "region": regions[index % len(regions)],
                    "worker_id": f"demo-{index + 1:04d}",
                }
                for index, (name, instance_id) in enumerate(fleet.instance_ids.items())
            ],
        }
    )
    answer_commands(conn, fleet, _team_handle)


def _team_handle(fleet: Any, command: str, kwargs: dict[str, Any]) -> Any:
    faults = fleet.moto.faults
    if command == "dynamodb_throttle":  # count: None = every DynamoDB call until cleared
        faults.throttle("dynamodb", count=kwargs.get("count"))
        return None
    if command == "dynamodb_clear":
        faults.clear()
        return None
    if command == "instance_requests":
        return [
            [action, instance_id, n]
            for (action, instance_id), n in faults.instance_requests.items()
        ]
    if command == "cml_by_worker":  # CML requests each fake controller received so far
        return {
            key: fleet.cml.worker(key).counters.request_count for key in fleet.cml.worker_keys()
        }
    if command == "running_instances":  # moto's own view, from its in-process backend
        from moto.ec2.models import ec2_backends

        from cmltui.demo.moto_server import MOTO_ACCOUNT_ID

        backends = ec2_backends[MOTO_ACCOUNT_ID]
        return sorted(
            instance.id
            for region in fleet.regions
            for instance in backends[region].all_instances()
            if instance.state == "running"
        )
    if command == "dynamodb_counts":
        return {a: n for (s, a), n in faults.request_counts.items() if s == "dynamodb"}
    return _handle(fleet, command, kwargs)


class TeamFleetProcess(FleetProcess):
    """``FleetProcess`` for the team demo fleet (``DemoFleet(team=True)``)."""

    def __init__(self, *, workers: int, regions: list[str], seed: int, refresh: dict[str, float]):
        super().__init__(workers=workers, regions=regions, seed=seed, refresh_seconds=refresh)
        del self._options["folder"]

    def start(self) -> dict[str, Any]:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve_team, args=(child, self._options), name="cmltui-team-servers", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        answer = self._conn.recv()
        if "error" in answer:
            self._process.join(5)
            raise RuntimeError(f"the demo servers did not start:\n{answer['error']}")
        self.info = answer
        return answer
