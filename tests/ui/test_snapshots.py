"""SVG snapshots (pytest-textual-snapshot) of the main view and every dialog, clock frozen.

Data comes from the in-memory service so that every byte is reproducible. Update after
looking at the report: ``pytest tests/ui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Input

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.config import CmlConfig, Config
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.services.discovery import DiscoveredInstance
from cmltui.services.snapshot import SourceHealth, WorkerSnapshot
from cmltui.ui.app import CmlTuiApp
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot

WORKERS = 14


def doubtful_fleet() -> list[WorkerSnapshot]:
    """The plain fleet, with the cases an operator must not misread: figures that are history,
    a detached worker, a worker with a problem, and a name that holds a zero-width space."""
    workers = {n: make_snapshot(n) for n in range(1, WORKERS + 1)}
    workers[2] = replace(
        workers[2],
        service_status=CMLServiceStatus.AVAILABLE,  # what CML said before the stop
        telemetry_live=False,
        telemetry_at=NOW - timedelta(minutes=40),
        seen_cpu_utilization=97.0,
        seen_memory_utilization=88.0,
        seen_active_labs_count=3,
    )
    workers[3] = replace(workers[3], detached=True)
    workers[4] = replace(
        workers[4], problems=("i-0c0ffee000000004 is a copy: same cmltui:worker-id tag",)
    )
    workers[6] = replace(workers[6], name="cml-worker-1\u200b")
    return list(workers.values())


def snapshot_app(
    tmp_path: Path, *, read_only: bool = False, errors: bool = False, doubtful: bool = False
) -> CmlTuiApp:
    service = FakeFleetService(
        doubtful_fleet() if doubtful else [make_snapshot(n) for n in range(1, WORKERS + 1)],
        discovered=[
            CMLWorkerInstanceDto(
                aws_instance_id="i-0abc00000000000001",
                region="us-east-1",
                ami_name="CML-2.9.0-Ubuntu-22.04",
                instance_type="c5.2xlarge",
                state=CMLWorkerStatus.RUNNING,
                tags={"Name": "stray-worker"},
            ),
            DiscoveredInstance(
                CMLWorkerInstanceDto(
                    aws_instance_id="i-0abc00000000000002",
                    region="us-east-1",
                    ami_name="CML-2.9.0-Ubuntu-22.04",
                    instance_type="c5.2xlarge",
                    state=CMLWorkerStatus.RUNNING,
                    tags={"Name": "cml-worker-1-copy"},
                ),
                copy_of="cml-worker-1",
            ),
            DiscoveredInstance(
                CMLWorkerInstanceDto(
                    aws_instance_id="i-0abc00000000000003",
                    region="us-west-2",
                    state=CMLWorkerStatus.STOPPED,
                    tags={},
                ),
                problem="it has no Name tag: name it in EC2 first",
            ),
        ],
    )
    if errors:
        service.errors = (SourceHealth("us-west-2", "throttled", NOW, 8.0),)
    if doubtful:
        service.errors = (
            SourceHealth("us-west-2", "throttled past every attempt", NOW, 8.0),
            SourceHealth("us-east-1", "i-0c0ffee000000004 is a copy of cml-worker-4", NOW),
            SourceHealth("cml:cml-worker-7", "connection refused (unreachable for 25 min)", NOW),
        )
    config = Config(
        regions=["us-east-1", "us-west-2"],
        cml_worker_ami_ids={"us-east-1": "ami-0123456789abcdef0"},
        cml=CmlConfig(verify_tls=not errors),
    )
    return CmlTuiApp(
        service,
        config=config,
        aws_profile_label="lab-admin",
        read_only=read_only,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )


async def steady(pilot) -> None:
    """No blinking cursor, no pending work: the same pixels every time."""
    await pilot.app.workers.wait_for_complete()
    for screen in pilot.app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False
    await pilot.pause()


def keys_then_steady(*keys: str):
    async def run_before(pilot) -> None:
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await steady(pilot)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 35)], ids=["80x24", "120x35"])
def test_main_view(snap_compare, tmp_path, size):
    assert snap_compare(
        snapshot_app(tmp_path), run_before=keys_then_steady("j"), terminal_size=size
    )


def test_main_view_read_only_with_errors(snap_compare, tmp_path):
    app = snapshot_app(tmp_path, read_only=True, errors=True)
    assert snap_compare(app, run_before=keys_then_steady(), terminal_size=(120, 35))


def test_filter_and_marks(snap_compare, tmp_path):
    assert snap_compare(
        snapshot_app(tmp_path),
        run_before=keys_then_steady("slash", *"us-east", "enter", "M", "O"),
        terminal_size=(120, 35),
    )


@pytest.mark.parametrize("size", [(80, 24), (120, 35)], ids=["80x24", "120x35"])
def test_doubtful_rows(snap_compare, tmp_path, size):
    """Stale figures, detached, a problem, an escaped name, several errors; the detached
    worker selected (its detail says why)."""
    assert snap_compare(
        snapshot_app(tmp_path, doubtful=True),
        run_before=keys_then_steady("j", "j", "j"),
        terminal_size=size,
    )


def test_stale_worker_detail(snap_compare, tmp_path):
    assert snap_compare(
        snapshot_app(tmp_path, doubtful=True),
        # The third row, cml-worker-2: stopped, its figures 40 min old.
        run_before=keys_then_steady("j", "j"),
        terminal_size=(120, 35),
    )


@pytest.mark.parametrize(
    "keys",
    # stop-hidden: mark cml-worker-1 and cml-worker-7, then filter cml-worker-7 out of sight.
    [("E",), ("space", *"jjjjj", "space", "slash", *"worker-1", "enter", "S")],
    ids=["errors", "stop-hidden"],
)
def test_doubtful_dialogs(snap_compare, tmp_path, keys):
    assert snap_compare(
        snapshot_app(tmp_path, doubtful=True),
        run_before=keys_then_steady(*keys),
        terminal_size=(120, 35),
    )


def test_detail_focused_narrow(snap_compare, tmp_path):
    assert snap_compare(
        snapshot_app(tmp_path), run_before=keys_then_steady("j", "enter"), terminal_size=(80, 24)
    )


@pytest.mark.parametrize(
    "keys",
    [
        ("ctrl+d",),
        ("space", "space", "ctrl+d"),
        ("space", "space", "S"),
        ("n", *"new-lab"),
        ("l",),
        ("i",),
        ("e",),
        ("question_mark",),
    ],
    ids=[
        "terminate",
        "terminate-several",
        "stop",
        "new-worker",
        "licence",
        "import",
        "events",
        "help",
    ],
)
def test_dialogs(snap_compare, tmp_path, keys):
    assert snap_compare(
        snapshot_app(tmp_path), run_before=keys_then_steady(*keys), terminal_size=(120, 35)
    )
