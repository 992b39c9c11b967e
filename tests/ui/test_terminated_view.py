"""Issue 15 item 15: terminated workers leave the table [ui] terminated_visible_days after their
end (the header counts them), ``t`` shows them again, and ``F`` (asked first) forgets a
terminated worker's record while its events stay in the audit trail. On the real controller
(moto, the fake CML, a real data file)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.snapshot import ChangeSet, WorkerSnapshot
from cmltui.services.terminated_view import TerminatedView, hidden_by_age
from cmltui.ui.screens.confirm import ConfirmScreen
from cmltui.ui.widgets.header import FleetHeader
from cmltui.ui.widgets.worker_table import WorkerTable
from tests.ui.fake_service import NOW, make_snapshot


def _header(app) -> str:
    return app.main_screen.query_one(FleetHeader).render_text(app.clock()).plain


async def _settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def test_old_terminated_workers_hide_t_shows_them_and_f_forgets_one(
    make_fleet, open_app, store
):
    fleet = await make_fleet(
        [("old-lab", "us-east-1", 0), ("recent-lab", "us-east-1", 0), ("live-lab", "us-east-1", 0)]
    )
    ids = {name: fleet.id_of(name) for name in ("old-lab", "recent-lab", "live-lab")}
    controller = fleet.controller
    assert (await controller.terminate_workers([ids["old-lab"]])).ok
    await controller.refresh_once()
    fleet.clock.advance(days=2)
    assert (await controller.terminate_workers([ids["recent-lab"]])).ok
    await controller.refresh_once()
    assert controller.find("old-lab").state.status == CMLWorkerStatus.TERMINATED
    assert controller.find("recent-lab").state.status == CMLWorkerStatus.TERMINATED
    trail = len(store.events(ids["recent-lab"]))

    async with open_app(fleet) as (app, pilot):
        table = app.main_screen.query_one(WorkerTable)
        # Terminated two days ago (the default keeps one day): out of the table, counted.
        assert set(table.shown_ids) == {ids["recent-lab"], ids["live-lab"]}
        assert "+1 terminated hidden" in _header(app)

        await pilot.press("t")
        await pilot.pause()
        assert set(table.shown_ids) == set(ids.values())
        assert "terminated hidden" not in _header(app)
        await pilot.press("t")
        await pilot.pause()
        assert set(table.shown_ids) == {ids["recent-lab"], ids["live-lab"]}

        # F on a live worker: refused in one line, nothing asked, nothing forgotten.
        table.move_cursor(row=table.get_row_index(ids["live-lab"]))
        await pilot.pause()
        await pilot.press("F")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert controller.find("live-lab") is not None

        # F on the terminated one: asked first; no keeps it, yes forgets it.
        table.move_cursor(row=table.get_row_index(ids["recent-lab"]))
        await pilot.pause()
        await pilot.press("F")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.names == ["recent-lab"]
        await pilot.press("n")
        await _settle(app, pilot)
        assert controller.find("recent-lab") is not None
        await pilot.press("F")
        await pilot.pause()
        await pilot.press("y")
        await _settle(app, pilot)
        assert controller.find("recent-lab") is None
        assert store.get(ids["recent-lab"]) is None
        assert len(store.events(ids["recent-lab"])) == trail  # the audit trail keeps them
        assert set(table.shown_ids) == {ids["live-lab"]}


def _terminated(snapshot: WorkerSnapshot, ended) -> WorkerSnapshot:
    return replace(snapshot, status=CMLWorkerStatus.TERMINATED, terminated_at=ended)


def test_hidden_by_age_follows_the_setting():
    live = make_snapshot(0)
    ended_2h = _terminated(make_snapshot(1), NOW - timedelta(hours=2))
    ended_3d = _terminated(make_snapshot(3), NOW - timedelta(days=3))
    assert not hidden_by_age(live, NOW, 0)
    assert hidden_by_age(ended_2h, NOW, 0)  # 0 hides at once
    assert not hidden_by_age(ended_2h, NOW, 1)
    assert hidden_by_age(ended_3d, NOW, 1)
    assert not hidden_by_age(ended_3d, NOW, 7)

    # One shown when published hides once it ages past the limit, at the next change set.
    view = TerminatedView(visible_days=1)
    first = view.filter(ChangeSet(changed=(live, ended_2h), is_full=True), NOW)
    assert [s.id for s in first.changed] == [live.id, ended_2h.id] and not view.hidden_ids
    later = view.filter(ChangeSet(changed=(live,)), NOW + timedelta(hours=23))
    assert later.removed_ids == (ended_2h.id,) and view.hidden_ids == {ended_2h.id}
