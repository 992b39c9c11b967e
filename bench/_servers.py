"""The demo servers (moto + fake CML) in a child process, driven over a pipe.

The benchmarks measure cmltui's own process: running the servers in it would share its GIL and
its memory with them (a real fleet's servers are other machines). So the ``DemoFleet`` lives in
a child process, and the parent asks it for the server-side request counts, resets them, and
arms or clears faults through ``FleetProcess``.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import traceback
from collections import Counter
from typing import Any

_LAB_PATH = re.compile(r"^labs/[^/]+$")


def _path_kind(api_path: str) -> str:
    """``labs/<id>`` -> ``labs/{id}`` so per-lab requests add up under one key."""
    return "labs/{id}" if _LAB_PATH.match(api_path) else api_path


def _serve(conn: Any, options: dict[str, Any]) -> None:
    """The child: start the fleet, describe it, then answer commands until ``stop``."""
    from cmltui.demo.fleet import DemoFleet

    fleet = DemoFleet(**options)
    try:
        info = fleet.start()
    except BaseException:
        conn.send({"error": traceback.format_exc()})
        return
    regions = fleet.regions
    workers = [
        {
            "name": name,
            "instance_id": instance_id,
            "region": regions[index % len(regions)],
            "endpoint": info.cml_endpoints[name],
        }
        for index, (name, instance_id) in enumerate(fleet.instance_ids.items())
    ]
    conn.send(
        {
            "config_path": info.config_path,
            "aws_endpoint_url": info.aws_endpoint_url,
            "cml_url": fleet.cml.url,
            "cml_ca_file": info.cml_ca_file,
            "cml_username": info.cml_username,
            "cml_password": info.cml_password,
            "data_dir": info.data_dir,
            "workers": workers,
        }
    )
    answer_commands(conn, fleet, _handle)


def answer_commands(conn: Any, fleet: Any, handle: Any) -> None:
    """Answer ``(command, kwargs)`` from the pipe with ``handle(fleet, command, kwargs)`` until
    ``stop`` (or the parent is gone), then stop the fleet."""
    try:
        while True:
            command, kwargs = conn.recv()
            if command == "stop":
                conn.send({"ok": True})
                return
            try:
                conn.send({"ok": True, "value": handle(fleet, command, kwargs)})
            except Exception as err:
                conn.send({"ok": False, "error": f"{type(err).__name__}: {err}"})
    except (EOFError, KeyboardInterrupt):
        return
    finally:
        fleet.stop()


def _handle(fleet: Any, command: str, kwargs: dict[str, Any]) -> Any:
    if command == "counts":
        aws = {f"{s}:{a}": n for (s, a), n in fleet.moto.request_counts.items()}
        by_path: Counter[str] = Counter()
        requests = logins = asked = 0
        for key in fleet.cml.worker_keys():
            counters = fleet.cml.worker(key).counters
            requests += counters.request_count
            asked += counters.request_count > 0
            logins += counters.login_count
            for path, count in counters.requests_by_path.items():
                by_path[_path_kind(path)] += count
        return {
            "aws_requests": sum(aws.values()),
            "aws_by_action": aws,
            "cml_requests": requests,
            "cml_logins": logins,
            # Controllers asked anything since the counters were reset (= workers polled).
            "cml_workers_asked": asked,
            "cml_by_path": dict(by_path),
        }
    if command == "reset_counts":
        fleet.moto.faults.reset_counts()
        for key in fleet.cml.worker_keys():
            fleet.cml.worker(key).reset_counters()
        return None
    if command == "moto_fault":  # kind: throttle / slow / server_error
        getattr(fleet.moto.faults, kwargs.pop("kind"))(**kwargs)
        return None
    if command == "cml_fault":
        fleet.cml.worker(kwargs.pop("key")).set_faults(**kwargs)
        return None
    if command == "add_labs":  # key, count, running: labs of several owners on one worker
        worker = fleet.cml.worker(kwargs["key"])
        owners = ("alice", "bob", "carol", "dave", "erin")
        return [
            worker.add_lab(
                f"Bench lab {index + 1:03d}",
                owner=owners[index % len(owners)],
                nodes=2 + index % 7,
                state="STARTED" if index < kwargs["running"] else "STOPPED",
            )
            for index in range(kwargs["count"])
        ]
    if command == "clear_faults":
        fleet.moto.faults.clear()
        for key in fleet.cml.worker_keys():
            fleet.cml.worker(key).clear_faults()
        return None
    raise ValueError(f"unknown command {command!r}")


class FleetProcess:
    """A ``DemoFleet`` in a child process. ``start()`` returns its description (see ``_serve``)."""

    def __init__(
        self,
        *,
        workers: int,
        regions: list[str],
        seed: int = 7,
        folder: str | None = None,
        refresh_seconds: dict[str, float] | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "workers": workers,
            "regions": regions,
            "seed": seed,
            "folder": folder,
            "refresh_seconds": refresh_seconds,
        }
        self._conn: Any = None
        self._process: Any = None
        self.info: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        context = multiprocessing.get_context("spawn")  # no inherited threads or event loop
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, self._options), name="cmltui-bench-servers", daemon=True
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

    def call(self, command: str, **kwargs: Any) -> Any:
        self._conn.send((command, kwargs))
        answer = self._conn.recv()
        if not answer.get("ok"):
            raise RuntimeError(answer.get("error", "server process failed"))
        return answer.get("value")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        with open(f"/proc/{self._process.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def counts(self) -> dict[str, Any]:
        return self.call("counts")

    def reset_counts(self) -> None:
        self.call("reset_counts")

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            self.call("stop")
        except (OSError, EOFError, RuntimeError):
            pass
        self._process.join(15)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._process = None

    def __enter__(self) -> dict[str, Any]:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
