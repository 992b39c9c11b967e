"""The cost ledger (issue 16 #4): per worker figures from its stored events, read again only
when its lifecycle changed; fleet totals at most once per second; the cost zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cmltui.config import CostConfig
from cmltui.domain.billing import BILLING_EVENT_TYPES
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.events import event_from_cloudevent
from cmltui.services.cost import CostLedger, cost_zone, local_time_zone
from cmltui.store import open_store
from tests.fixtures.workers import make_worker

PRICES = CostConfig(hourly_usd={"m5zn.metal": 4.0}, default_hourly_usd=1.0, time_zone="UTC")


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "data", clock=FrozenClock())
    yield opened
    opened.close()


def _ledger(store, reads: list[str]) -> CostLedger:
    def events_of(worker_id: str):
        reads.append(worker_id)
        return [
            event_from_cloudevent(e)
            for e in store.events(worker_id)
            if e.type in BILLING_EVENT_TYPES
        ]

    return CostLedger(PRICES, events_of)


def test_figures_grow_with_the_clock_and_events_are_read_only_when_the_lifecycle_changes(store):
    clock = FrozenClock(datetime(2026, 3, 4, 8, tzinfo=UTC))
    metal = make_worker(clock, "w-metal", instance_type="m5zn.metal")
    other = make_worker(clock, "w-other", instance_type="x9.unknown")  # default price
    store.save_many([metal, other])
    reads: list[str] = []
    ledger = _ledger(store, reads)

    now = clock.advance(hours=2)
    today, week = ledger.figures(metal.state, now)
    assert today.cost_usd == pytest.approx(8.0) and week.cost_usd == pytest.approx(8.0)
    assert ledger.figures(other.state, now)[0].cost_usd == pytest.approx(2.0)
    assert reads == ["w-metal", "w-other"]

    # Telemetry changes the worker's version, not what it bills: nothing is read again.
    metal.update_telemetry(now, 1, 50.0, 40.0)
    store.save_many([metal])
    now = clock.advance(hours=1)
    assert ledger.figures(metal.state, now)[0].cost_usd == pytest.approx(12.0)
    assert reads == ["w-metal", "w-other"]

    # A stop changes its lifecycle: its events are read once more, and it stops billing.
    metal.update_status(CMLWorkerStatus.STOPPED)
    store.save_many([metal])
    assert ledger.figures(metal.state, clock.advance(hours=5))[0].cost_usd == pytest.approx(12.0)
    assert ledger.figures(metal.state, clock.advance(hours=1))[0].cost_usd == pytest.approx(12.0)
    assert reads == ["w-metal", "w-other", "w-metal"]


def test_fleet_totals_are_recomputed_once_per_second_at_most(store):
    clock = FrozenClock(datetime(2026, 3, 4, 8, tzinfo=UTC))
    metal = make_worker(clock, "w-metal", instance_type="m5zn.metal")
    store.save_many([metal])
    ledger = _ledger(store, [])
    now = clock.advance(hours=1)
    first = ledger.fleet([metal.state], now)
    assert first[0].cost_usd == pytest.approx(4.0)
    assert ledger.fleet([metal.state], now + timedelta(milliseconds=900)) == first
    later = ledger.fleet([metal.state], now + timedelta(seconds=1))
    assert later[0].cost_usd > first[0].cost_usd


def test_the_cost_zone_is_the_configured_one_else_this_machines(monkeypatch):
    assert cost_zone(CostConfig(time_zone="Asia/Tokyo")) == ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("TZ", "America/New_York")
    assert local_time_zone() == ZoneInfo("America/New_York")
    assert cost_zone(CostConfig()) == ZoneInfo("America/New_York")
    monkeypatch.setenv("TZ", "Not/AZone")  # unknown: the system's own file, never an error
    assert local_time_zone().utcoffset(datetime(2026, 1, 1)) is not None
