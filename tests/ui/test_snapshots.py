"""SVG snapshots (pytest-textual-snapshot) of the main view and every dialog, clock frozen.

Data comes from the in-memory service so that every byte is reproducible. Update after
looking at the report: ``pytest tests/ui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.config import CmlConfig, Config
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.snapshot import SourceHealth
from cmltui.ui.app import CmlTuiApp
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot

WORKERS = 14


def snapshot_app(tmp_path: Path, *, read_only: bool = False, errors: bool = False) -> CmlTuiApp:
    service = FakeFleetService(
        [make_snapshot(n) for n in range(1, WORKERS + 1)],
        discovered=[
            CMLWorkerInstanceDto(
                aws_instance_id="i-0abc00000000000001",
                region="us-east-1",
                ami_name="CML-2.9.0-Ubuntu-22.04",
                instance_type="c5.2xlarge",
                state=CMLWorkerStatus.RUNNING,
                tags={"Name": "stray-worker"},
            )
        ],
    )
    if errors:
        service.errors = (SourceHealth("us-west-2", "throttled", NOW, 8.0),)
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
