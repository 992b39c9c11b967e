"""The telemetry cursor: no event is returned twice, new ones appear, automation is ignored."""

from __future__ import annotations

from cmltui.cml.client import ACTIVITY_CATEGORIES
from cmltui.cml.models import ActivityCursor
from cmltui.cml.wire import parse_events
from cmltui.demo.fake_cml import ADMIN_USER_ID
from cmltui.domain.clock import FrozenClock


async def test_cursor_returns_each_event_once(make_worker):
    clock = FrozenClock()
    worker, client = make_worker(labs=4, running_labs=2, clock=clock)
    first = await client.new_activity_events()
    assert first, "the seeded history has activity"
    assert all(event.category in ACTIVITY_CATEGORIES for event in first)
    assert await client.new_activity_events() == []

    user_id = worker.user_ids["alice"]
    clock.advance(seconds=1)
    worker.add_activity(user_id)
    newer = await client.new_activity_events()
    assert [(event.category, event.user_id) for event in newer] == [("user_activity", user_id)]
    assert newer[0].timestamp > max(event.timestamp for event in first)
    assert await client.new_activity_events() == []


async def test_events_sharing_the_newest_timestamp_are_not_lost(make_worker):
    clock = FrozenClock()
    worker, client = make_worker(labs=1, running_labs=0, clock=clock, evolve=False)
    await client.new_activity_events()
    alice, bob = worker.user_ids["alice"], worker.user_ids["bob"]
    worker.add_activity(alice)
    assert [event.user_id for event in await client.new_activity_events()] == [alice]
    worker.add_activity(bob)  # same frozen instant (or 1 µs later): must still appear once
    assert [event.user_id for event in await client.new_activity_events()] == [bob]
    assert await client.new_activity_events() == []


async def test_builtin_admin_user_activity_is_ignored(make_worker):
    clock = FrozenClock()
    worker, client = make_worker(labs=1, running_labs=0, clock=clock, evolve=False)
    await client.new_activity_events()
    clock.advance(seconds=5)
    worker.add_activity(ADMIN_USER_ID)
    worker.add_activity(worker.user_ids["carol"], category="system_stats")
    assert await client.new_activity_events() == []
    # The cursor still moved past them.
    assert client.cursor.newest is not None


async def test_cursor_survives_a_new_client(make_worker, cml_pool, fake_cml):
    clock = FrozenClock()
    worker, client = make_worker(labs=3, running_labs=1, clock=clock)
    await client.new_activity_events()
    saved = ActivityCursor.model_validate(client.cursor.model_dump(mode="json"))

    other_pool_client = cml_pool.client_for("restarted", fake_cml.base_url_for(worker.key))
    other_pool_client.cursor = saved
    assert await other_pool_client.new_activity_events() == []


async def test_labs_starting_over_time_appear_as_activity(make_worker):
    clock = FrozenClock()
    worker, client = make_worker(labs=8, running_labs=4, clock=clock)
    await client.new_activity_events()
    seen_until = client.cursor.newest
    running_before = worker.running_lab_count()
    clock.advance(hours=2)
    later = await client.new_activity_events()
    assert later, "two simulated hours with running labs produce activity"
    assert all(seen_until < event.timestamp <= clock() for event in later)
    lab_events = [event for event in later if event.category in ("start_lab", "stop_lab")]
    started = sum(event.category == "start_lab" for event in lab_events)
    stopped = len(lab_events) - started
    assert worker.running_lab_count() == running_before + started - stopped
    assert await client.new_activity_events() == []


def test_timestamps_in_every_shape_compare_in_utc():
    events = parse_events(
        [
            {"category": "user_activity", "timestamp": "2026-01-01T12:00:00Z", "data": {}},
            {"category": "start_lab", "timestamp": "2026-01-01T12:00:00.5", "data": {}},
            {"category": "stop_lab", "timestamp": "2026-01-01T13:00:01+01:00", "data": None},
            {"category": "user_activity", "timestamp": "2026-01-01 12:00:02", "data": {}},
            {"category": "user_activity", "timestamp": "not a time", "data": {}},
        ]
    )
    seconds = [event.timestamp.timestamp() - events[0].timestamp.timestamp() for event in events]
    assert seconds == [0.0, 0.5, 1.0, 2.0]
    assert all(event.timestamp.utcoffset().total_seconds() == 0 for event in events)
