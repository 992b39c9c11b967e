"""Issue 15 item 15: forgetting a terminated worker's record keeps its events, and no other
process's stale copy brings it back (two stores on one real file stand for two processes)."""

from __future__ import annotations

import pytest

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.store import open_store
from tests.fixtures.workers import make_worker


@pytest.fixture
def two(tmp_path, frozen_clock):
    first = open_store(tmp_path / "data", clock=frozen_clock)
    second = open_store(tmp_path / "data", clock=frozen_clock)
    yield first, second
    first.close()
    second.close()


def test_a_stale_copy_changed_elsewhere_never_brings_a_forgotten_worker_back(
    two, frozen_clock, tmp_path
):
    first, second = two
    first.save_many([make_worker(frozen_clock, "gone"), make_worker(frozen_clock, "kept")])
    second.sync()
    stale = second.get("gone")  # the second process still sees it running
    assert stale is not None and not stale.is_terminated

    # The first process sees it terminated and forgets it.
    mine = first.get("gone")
    mine.update_status(CMLWorkerStatus.TERMINATED)
    events_before = len(first.events("gone"))
    first.delete("gone", mine)
    assert first.get("gone") is None
    assert len(first.events("gone")) == events_before + 2  # status + terminated, kept

    # The second process changes its stale copy and saves it: merged, not resurrected.
    frozen_clock.advance(minutes=1)
    stale.update_telemetry(frozen_clock(), 1, 50.0, 50.0)
    second.save_many([stale])
    assert second.get("gone") is None
    _, removed = second.take_refreshed()
    assert removed == {"gone"}
    # Saved again from the same stale aggregate (a controller that had not caught up yet).
    stale.update_telemetry(frozen_clock(), 2, 60.0, 60.0)
    second.save_many([stale, second.get("kept")])
    first.sync()
    assert first.get("gone") is None

    with open_store(tmp_path / "data", read_only=True) as check:
        assert [w.id for w in check.all_workers()] == ["kept"]
        trail = check.events("gone")
        # Every event of the forgotten worker stays in the audit trail, the stale ones too.
        assert len(trail) == events_before + 2 + 2
        assert trail[0].type == "cmltui.worker.created.v1"
