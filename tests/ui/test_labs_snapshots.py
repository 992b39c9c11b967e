"""SVG snapshots of the labs screen, its delete dialog and the stop/terminate confirmations
that list running labs. Data comes from an in-memory labs double (byte-identical pictures;
the behaviour is tested on the real controller in test_labs_screen.py and test_busy_confirm.py).

Update after looking at the report: ``pytest tests/ui/test_labs_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from cmltui.config import CmlConfig, Config, IdleConfig
from cmltui.domain.clock import FrozenClock
from cmltui.services.labs import LabSnapshot, LabsUpdate, busy_verdict, sorted_labs
from cmltui.ui.app import CmlTuiApp
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot
from tests.ui.test_snapshots import keys_then_steady

OWNERS = ("alice", "bob", "carol", "dave", "m[red]allory")
TITLES = (
    "CCNA Routing Lab",
    "BGP Peering",
    "OSPF Multi-Area",
    "Firewall Sandbox",
    "SD-WAN Pilot",
    "[bold]not markup[/] \u202eevil",
    "MPLS Core",
    "Campus Switching",
)
STATES = ("STARTED", "STARTED", "STOPPED", "DEFINED_ON_CORE", "STARTED", "STOPPED")


def fixed_labs() -> list[LabSnapshot]:
    labs = []
    for index, title in enumerate(TITLES):
        state = STATES[index % len(STATES)]
        nodes = 2 + (index * 3) % 7
        labs.append(
            LabSnapshot(
                id=f"{index:08x}-1111-4222-8333-{index:012x}",
                title=title,
                state=state,
                owner=OWNERS[index % len(OWNERS)],
                node_count=nodes,
                running_nodes=nodes if state == "STARTED" else 0,
                created=NOW - timedelta(days=3 + index, hours=index),
                modified=NOW - timedelta(hours=2 * index + 1),
            )
        )
    return labs


class FixedSession:
    def __init__(self, service: FixedLabs, worker_id: str) -> None:
        self.service = service
        self.worker_id = worker_id

    def open(self, listener: Callable[[LabsUpdate], None]) -> None:
        listener(self.current())

    async def close(self) -> None:
        self.service.closed.append(self.worker_id)

    def request_refresh(self) -> None:
        pass

    def current(self) -> LabsUpdate:
        labs = sorted_labs(self.service.labs)
        worker = self.service.fleet.workers.get(self.worker_id)
        return LabsUpdate(
            worker_id=self.worker_id,
            worker=worker,
            busy=busy_verdict(worker, labs, IdleConfig()),
            changed=tuple(labs),
            is_full=True,
            loaded=True,
            fetched_at=NOW - timedelta(seconds=4),
            total=len(labs),
            started=sum(1 for lab in labs if lab.is_active),
            running_nodes=sum(lab.running_nodes or 0 for lab in labs),
            node_count=sum(lab.node_count or 0 for lab in labs),
        )


class FixedLabs:
    """The part of ``LabsService`` the screens use, with fixed labs."""

    def __init__(self, fleet: FakeFleetService) -> None:
        self.fleet = fleet
        self.labs = fixed_labs()
        self.closed: list[str] = []

    def session(self, worker_id: str) -> FixedSession:
        return FixedSession(self, worker_id)

    async def running_labs(
        self, worker_ids: Sequence[str]
    ) -> dict[str, tuple[list[LabSnapshot], str | None]]:
        started = [lab for lab in sorted_labs(self.labs) if lab.is_active]
        return {
            wid: (started[: 1 + index], None) if index < 2 else ([], "connection refused")
            for index, wid in enumerate(worker_ids)
        }


class FleetWithLabs(FakeFleetService):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._labs = FixedLabs(self)

    def labs(self) -> FixedLabs:
        return self._labs


def labs_app(tmp_path: Path) -> CmlTuiApp:
    service = FleetWithLabs([make_snapshot(n) for n in range(1, 15)])
    config = Config(regions=["us-east-1", "us-west-2"], cml=CmlConfig())
    return CmlTuiApp(
        service,
        config=config,
        aws_profile_label="lab-admin",
        read_only=False,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )


@pytest.mark.parametrize("size", [(80, 24), (120, 35)], ids=["80x24", "120x35"])
def test_labs_screen(snap_compare, tmp_path, size):
    # cml-worker-1 (the first row) runs labs; one lab marked, the cursor below it.
    assert snap_compare(
        labs_app(tmp_path), run_before=keys_then_steady("L", "j", "space"), terminal_size=size
    )


@pytest.mark.parametrize(
    "keys",
    [
        ("L", "j", "ctrl+d"),
        ("L", "j", "j", "j", "j", "ctrl+d"),
        ("L", "question_mark"),
        ("S",),
        ("space", "j", "space", "j", "j", "space", "S"),
        ("ctrl+d",),
    ],
    ids=[
        "lab-stop-wipe-delete",
        "lab-delete",
        "labs-help",
        "stop-busy",
        "stop-busy-several",
        "terminate-busy",
    ],
)
def test_lab_dialogs(snap_compare, tmp_path, keys):
    assert snap_compare(
        labs_app(tmp_path), run_before=keys_then_steady(*keys), terminal_size=(120, 35)
    )
