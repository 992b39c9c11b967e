"""The connect key (issue 16 #3) in the headless app: refused with the reason, allowed in
read-only mode, and a plain message where there is no terminal to hand over. The hand-over
itself runs in tmux (tests/e2e/test_tmux_connect.py)."""

from __future__ import annotations

from pathlib import Path

from cmltui.config import Config
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.ui.actions import ACTIONS_BY_ID, visible_actions
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.widgets.worker_table import WorkerTable
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot


def make_app(service: FakeFleetService, tmp_path: Path, *, read_only: bool = False) -> CmlTuiApp:
    config = Config.model_validate(
        {"connect": {"command": [str(tmp_path / "never-run"), "{username}@{host}"]}}
    )
    return CmlTuiApp(
        service,
        config=config,
        aws_profile_label="lab-admin",
        read_only=read_only,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def _press_c_on(app, pilot, worker_id: str) -> list[str]:
    table = app.main_screen.query_one(WorkerTable)
    table.move_cursor(row=table.get_row_index(worker_id))
    await pilot.pause()
    before = len(notices(app))
    await pilot.press("C")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return notices(app)[before:]


def _fleet() -> FakeFleetService:
    return FakeFleetService(
        [
            make_snapshot(0, name="ready; rm -rf /"),
            make_snapshot(1, name="halted", status=CMLWorkerStatus.STOPPED),
            make_snapshot(3, name="no-public", public_ip=None),
        ]
    )


async def test_connect_key_refuses_with_the_reason_and_says_when_there_is_no_terminal(tmp_path):
    service = _fleet()
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        assert await _press_c_on(app, pilot, "w-0001") == [
            "Cannot connect to halted: it is stopped."
        ]
        assert await _press_c_on(app, pilot, "w-0003") == [
            "Cannot connect to no-public: it has no public IP (its private IP 10.0.0.3 is used "
            "with prefer_private_ip = true in [connect])."
        ]
        # Connectable, but a headless app has no terminal to lend: it says what to run instead.
        assert await _press_c_on(app, pilot, "w-0000") == [
            "This dashboard has no terminal to hand over: use cmltui connect ready; rm -rf /."
        ]
        assert app.main_screen.connecting is False
    assert app.unexpected_errors == []
    assert not (tmp_path / "never-run").exists()


async def test_connect_key_works_in_read_only_mode_and_is_offered_there(tmp_path):
    app = make_app(_fleet(), tmp_path, read_only=True)
    async with app.run_test(size=(120, 35)) as pilot:
        said = await _press_c_on(app, pilot, "w-0001")
        assert said == ["Cannot connect to halted: it is stopped."]  # not "Read-only mode: ..."
    spec = ACTIONS_BY_ID["connect"]
    assert not spec.mutating
    assert spec in visible_actions(read_only=True)
