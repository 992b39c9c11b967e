"""The policy form (P): checked as typed, only changed fields sent, open with the reason when
refused; refused in read-only mode; the detail pane shows the next automatic action."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input, Static

from cmltui.config import Config
from cmltui.domain.clock import FrozenClock
from cmltui.domain.policy import EffectivePolicy
from cmltui.domain.worker_policy import UNCHANGED, PolicyChange
from cmltui.services.policy_view import PolicyView
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.screens.policy_form import PolicyScreen, field_problems
from cmltui.ui.widgets.detail_lines import service_lines
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot

SCHEDULES = {"emea-class": {"zone": "Europe/Paris"}}


def _app(service: FakeFleetService, tmp_path: Path, *, read_only: bool = False) -> CmlTuiApp:
    return CmlTuiApp(
        service,
        config=Config.model_validate({"regions": ["us-east-1"], "schedules": SCHEDULES}),
        aws_profile_label="lab-admin",
        read_only=read_only,
        read_only_reason="started with --read-only" if read_only else None,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )


async def _settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def _error(form: PolicyScreen, field: str) -> str:
    return str(form.query_one(f"#{field}-error", Static).render())


async def test_the_form_checks_as_typed_and_sends_only_the_changed_fields(tmp_path):
    service = FakeFleetService([make_snapshot(1)])
    app = _app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("P")
        form = app.screen
        assert isinstance(form, PolicyScreen)
        await pilot.press(*"0")
        await pilot.pause()
        assert "whole minutes" in _error(form, "idle")
        assert form.query_one("#save", Button).disabled
        form.query_one("#idle", Input).value = "90"
        form.query_one("#maintenance_from", Input).value = "2026-03-10 18:00"
        await pilot.pause()
        assert _error(form, "idle") == ""
        assert _error(form, "maintenance_until") == "both times, or neither"
        form.query_one("#maintenance_until", Input).value = "2026-03-10 22:00"
        await pilot.pause()
        assert not form.query_one("#save", Button).disabled
        await pilot.click("#save")
        await _settle(app, pilot)
        assert app.screen is app.main_screen
        ((_, (ids, change)),) = [c for c in service.calls if c[0] == "policy"]
        assert ids == ("w-0001",)
        assert change.idle_minutes == 90 and change.schedule is UNCHANGED
        assert change.auto_stop is UNCHANGED
        assert change.maintenance is not UNCHANGED and change.maintenance is not None


async def test_a_refused_schedule_keeps_the_form_open_with_the_reason(tmp_path):
    service = FakeFleetService([make_snapshot(1)])
    service.known_schedules = ()  # the service refuses what the form's config allows
    app = _app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("P")
        form = app.screen
        assert isinstance(form, PolicyScreen)
        form.query_one("#schedule", Input).value = "nope"
        await pilot.pause()
        assert _error(form, "schedule") == "not in the config (known: emea-class)"
        form.query_one("#schedule", Input).value = "emea-class"
        await pilot.pause()
        await pilot.click("#save")
        await _settle(app, pilot)
        assert app.screen is form
        status = str(form.query_one("#policy-status", Static).render())
        assert "Not saved: cml-worker-1: schedule 'emea-class' is not in the config" in status
        assert form.query_one("#schedule", Input).value == "emea-class"


async def test_read_only_refuses_the_form_with_the_reason(tmp_path):
    service = FakeFleetService([make_snapshot(1)], read_only=True)
    app = _app(service, tmp_path, read_only=True)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("P")
        await pilot.pause()
        assert not isinstance(app.screen, PolicyScreen)
        told = [str(n.message) for n in app._notifications]
        assert any("started with --read-only" in line for line in told), told


def test_field_problems_for_maintenance_order_and_format():
    values = {"idle": "", "schedule": "", "maintenance_from": "x", "maintenance_until": ""}
    assert field_problems(values, ())["maintenance_from"] == "a local time: YYYY-MM-DD HH:MM"
    values |= {"maintenance_from": "2026-03-10 22:00", "maintenance_until": "2026-03-10 18:00"}
    assert field_problems(values, ()) == {"maintenance_until": "must be after the start"}
    assert field_problems(values | {"maintenance_until": ""}, ()) == {
        "maintenance_until": "both times, or neither"
    }


def test_the_detail_pane_shows_the_next_automatic_action():
    effective = EffectivePolicy(45, None, True, None, "worker")
    view = PolicyView(45, None, None, None, False, None, effective, ("stops at 18:12 UTC ...",))
    lines = [line.plain for line in service_lines(make_snapshot(1, policy=view), now=NOW)]
    assert "stops at 18:12 UTC ..." in lines
    assert PolicyChange().is_empty
