"""A re-sort builds sort keys only for the rows whose snapshot changed, and the order stays
the order the snapshots give."""

from __future__ import annotations

from dataclasses import replace

from cmltui.ui.widgets.columns import natural_key
from tests.ui.fake_service import FakeFleetService, make_app, make_snapshot


def _expected(service: FakeFleetService, reverse: bool) -> list[str]:
    """Idle minutes (then the name) in the asked direction, worked out from the snapshots."""
    ordered = sorted(
        service.workers.values(),
        key=lambda s: (s.idle_minutes, natural_key(s.name), s.id),
        reverse=reverse,
    )
    return [snapshot.id for snapshot in ordered]


async def test_a_change_set_re_sorts_with_the_kept_keys_of_unchanged_rows(tmp_path):
    service = FakeFleetService([make_snapshot(n) for n in range(1, 41)])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.main_screen.table
        table.set_sort("idle", reverse=False)
        await pilot.pause()
        assert table.shown_ids == _expected(service, reverse=False)
        keys_before = {worker_id: kept[1] for worker_id, kept in table._sort_keys.items()}
        moved = service.workers["w-0003"]
        service.publish([replace(moved, idle_minutes=10_000.0)])
        await pilot.pause()
        assert table.shown_ids == _expected(service, reverse=False)
        assert table.shown_ids[-1] == "w-0003"
        for worker_id, key in keys_before.items():
            if worker_id == "w-0003":
                assert table._sort_keys[worker_id][1] != key
            else:
                # The same key object: it was not built again.
                assert table._sort_keys[worker_id][1] is key, worker_id
        table.set_sort("idle", reverse=True)
        await pilot.pause()
        assert table.shown_ids == _expected(service, reverse=True)
        assert table.shown_ids[0] == "w-0003"
        service.publish(removed=["w-0003"])
        await pilot.pause()
        assert "w-0003" not in table._sort_keys
        assert table.shown_ids == _expected(service, reverse=True)
