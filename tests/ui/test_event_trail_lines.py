"""The event trail: a run of telemetry updates (one per CML cycle) reads as one line, so the
lifecycle events around it stay in view; every other event keeps its own line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cmltui.domain.events import CloudEvent
from cmltui.ui.screens.lists import trail_lines

START = datetime(2026, 12, 3, 6, 0, 0, tzinfo=UTC)


def _event(seconds: int, kind: str, **data: object) -> CloudEvent:
    return CloudEvent(
        id=f"e-{seconds}",
        type=f"cmltui.worker.{kind}.v1",
        time=START + timedelta(seconds=seconds),
        subject="w-1",
        data=data,
    )


def test_a_run_of_telemetry_updates_is_one_line_with_its_span_count_and_last_figures():
    events = [
        _event(0, "status-updated", old_status="stopped", new_status="running"),
        *(_event(10 * k, "telemetry-updated", active_labs_count=k) for k in range(1, 5)),
        _event(50, "status-updated", old_status="running", new_status="stopping"),
        _event(60, "telemetry-updated", active_labs_count=0),
    ]
    lines = [line.plain for line in trail_lines(events)]
    assert lines == [
        "12-03 06:00:00 status-updated stopped→running",
        "12-03 06:00:10–06:00:40 4 × telemetry-updated labs=4",
        "12-03 06:00:50 status-updated running→stopping",
        "12-03 06:01:00 telemetry-updated labs=0",
    ]


def test_runs_of_other_events_keep_a_line_each():
    events = [_event(k, "action-requested", action="stop", requested_by="ana") for k in range(3)]
    assert len(trail_lines(events)) == 3
    assert trail_lines([]) == []
