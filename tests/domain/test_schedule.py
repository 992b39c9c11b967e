"""Weekly windows in a zone: across midnight, DST both ways, overlaps, skip dates, week ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cmltui.domain.schedule import (
    Schedule,
    WeeklyWindow,
    close_grace_stop_at,
    next_window,
    previous_window,
    window_at,
)

NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
EVERY_DAY = frozenset(range(7))
WEEKDAYS = frozenset(range(5))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def schedule(*windows: WeeklyWindow, zone=PARIS, skip=frozenset()) -> Schedule:
    return Schedule("class", zone, tuple(windows), skip_dates=frozenset(skip))


def test_a_weekday_window_in_paris_is_in_utc_with_the_winter_offset():
    s = schedule(WeeklyWindow(WEEKDAYS, time(9, 0), time(17, 30)))
    # Monday 2026-01-05, 10:00 Paris (UTC+1) = 09:00 UTC.
    assert window_at(s, utc(2026, 1, 5, 9)) == (utc(2026, 1, 5, 8), utc(2026, 1, 5, 16, 30))
    assert window_at(s, utc(2026, 1, 5, 16, 30)) is None  # the close is not inside
    assert window_at(s, utc(2026, 1, 5, 8)) == (utc(2026, 1, 5, 8), utc(2026, 1, 5, 16, 30))
    assert window_at(s, utc(2026, 1, 5, 7, 59)) is None


def test_a_window_across_midnight_closes_the_next_day_and_is_open_after_midnight():
    s = schedule(WeeklyWindow(frozenset({4}), time(22, 0), time(2, 0)))  # Friday night
    friday_late = utc(2026, 1, 9, 22)  # 23:00 Paris
    saturday_early = utc(2026, 1, 10, 0, 30)  # 01:30 Paris, Saturday: not an opening day
    expected = (utc(2026, 1, 9, 21), utc(2026, 1, 10, 1))
    assert window_at(s, friday_late) == expected
    assert window_at(s, saturday_early) == expected
    assert window_at(s, utc(2026, 1, 10, 1)) is None
    assert next_window(s, saturday_early) == (utc(2026, 1, 16, 21), utc(2026, 1, 17, 1))
    assert previous_window(s, utc(2026, 1, 10, 3)) == expected


def test_spring_forward_a_window_at_0230_that_does_not_exist_opens_at_0330():
    # 2026-03-08: New York skips 02:00-03:00 (EST -5 -> EDT -4).
    s = schedule(WeeklyWindow(EVERY_DAY, time(2, 30), time(4, 0)), zone=NEW_YORK)
    opens, closes = next_window(s, utc(2026, 3, 7, 12))
    assert opens == utc(2026, 3, 8, 7, 30)  # 03:30 EDT: shifted forward by the gap
    assert opens.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"
    assert closes == utc(2026, 3, 8, 8)  # 04:00 EDT
    assert closes - opens == timedelta(minutes=30)
    # The day before and the day after are whole 90-minute windows.
    assert next_window(s, utc(2026, 3, 6, 12)) == (utc(2026, 3, 7, 7, 30), utc(2026, 3, 7, 9))
    assert next_window(s, closes) == (utc(2026, 3, 9, 6, 30), utc(2026, 3, 9, 8))


def test_fall_back_a_window_at_0130_opens_at_the_first_0130_and_lasts_an_hour_more():
    # 2026-11-01: New York repeats 01:00-02:00 (EDT -4 -> EST -5).
    s = schedule(WeeklyWindow(EVERY_DAY, time(1, 30), time(3, 0)), zone=NEW_YORK)
    opens, closes = next_window(s, utc(2026, 10, 31, 12))
    assert opens == utc(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)
    assert closes == utc(2026, 11, 1, 8)  # 03:00 EST
    assert closes - opens == timedelta(hours=2, minutes=30)
    # During the repeated hour (the second 01:30, EST) the window is still the same one.
    assert window_at(s, utc(2026, 11, 1, 6, 30)) == (opens, closes)


def test_a_window_wholly_inside_the_spring_gap_moves_forward_by_the_gap():
    s = schedule(WeeklyWindow(EVERY_DAY, time(2, 0), time(2, 30)), zone=NEW_YORK)
    # 02:00 -> 03:00 EDT, 02:30 -> 03:30 EDT: half an hour, moved past the gap.
    assert next_window(s, utc(2026, 3, 8, 0)) == (utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30))


def test_overlapping_and_touching_windows_merge_into_one():
    s = schedule(
        WeeklyWindow(WEEKDAYS, time(9, 0), time(12, 0)),
        WeeklyWindow(frozenset({0}), time(11, 0), time(14, 0)),  # overlaps on Monday
        WeeklyWindow(frozenset({0}), time(14, 0), time(15, 0)),  # touches it
    )
    monday = (utc(2026, 1, 5, 8), utc(2026, 1, 5, 14))  # 09:00-15:00 Paris
    assert window_at(s, utc(2026, 1, 5, 12)) == monday
    assert next_window(s, utc(2026, 1, 5, 7)) == monday
    # After Monday's opening, the next is Tuesday's (the merged ones are not separate openings).
    assert next_window(s, utc(2026, 1, 5, 9)) == (utc(2026, 1, 6, 8), utc(2026, 1, 6, 11))


def test_a_skip_date_opens_no_window_but_a_window_opened_the_day_before_runs_on():
    s = schedule(
        WeeklyWindow(EVERY_DAY, time(22, 0), time(1, 0)),
        skip={date(2026, 12, 25)},
    )
    christmas_eve_window = (utc(2026, 12, 24, 21), utc(2026, 12, 25, 0))
    assert window_at(s, utc(2026, 12, 24, 23, 30)) == christmas_eve_window
    assert window_at(s, utc(2026, 12, 25, 21, 30)) is None  # no opening on the 25th
    assert next_window(s, utc(2026, 12, 25, 12)) == (utc(2026, 12, 26, 21), utc(2026, 12, 27, 0))


def test_the_next_window_after_friday_is_monday_across_the_week_boundary():
    s = schedule(WeeklyWindow(WEEKDAYS, time(9, 0), time(17, 0)))
    friday_evening = utc(2026, 1, 9, 18)
    assert next_window(s, friday_evening) == (utc(2026, 1, 12, 8), utc(2026, 1, 12, 16))
    assert window_at(s, utc(2026, 1, 10, 10)) is None  # Saturday
    assert previous_window(s, utc(2026, 1, 11, 10)) == (utc(2026, 1, 9, 8), utc(2026, 1, 9, 16))


def test_a_schedule_with_no_windows_never_opens():
    s = schedule()
    at = utc(2026, 1, 5, 9)
    assert window_at(s, at) is None
    assert next_window(s, at) is None
    assert previous_window(s, at) is None


def test_a_schedule_whose_every_opening_is_skipped_has_no_next_window_within_the_search():
    s = schedule(
        WeeklyWindow(frozenset({0}), time(9, 0), time(10, 0)),
        skip={date(2026, 1, 5) + timedelta(weeks=n) for n in range(60)},
    )
    assert next_window(s, utc(2026, 1, 1)) is None


def test_naive_instants_are_refused():
    s = schedule(WeeklyWindow(WEEKDAYS, time(9, 0), time(17, 0)))
    with pytest.raises(ValueError, match="aware"):
        window_at(s, datetime(2026, 1, 5, 9))


def test_the_close_grace_applies_only_to_a_worker_nobody_used_since_the_close():
    s = schedule(WeeklyWindow(WEEKDAYS, time(9, 0), time(17, 0)))
    closes = utc(2026, 1, 5, 16)  # Monday 17:00 Paris
    # Idle since 16:58 UTC+1 (two minutes before the close): stops 5 idle minutes later.
    since = closes - timedelta(minutes=2)
    assert close_grace_stop_at(s, since, closes + timedelta(minutes=1), 5) == since + timedelta(
        minutes=5
    )
    # Idle long before the close: at the close itself.
    assert close_grace_stop_at(s, closes - timedelta(hours=1), closes, 5) == closes
    # The last activity was exactly at the close: nobody since, the grace counts from it.
    assert close_grace_stop_at(s, closes, closes + timedelta(minutes=3), 5) == closes + timedelta(
        minutes=5
    )
    # Someone active after the close (or a start for the evening): the threshold alone.
    assert (
        close_grace_stop_at(s, closes + timedelta(seconds=1), closes + timedelta(hours=1), 5)
        is None
    )
    # Inside the next day's window the last close is the day before: a worker used today is not
    # under the grace.
    assert close_grace_stop_at(s, utc(2026, 1, 6, 8, 30), utc(2026, 1, 6, 9), 5) is None
    # No window closed within the last week: nothing.
    empty = schedule()
    assert close_grace_stop_at(empty, closes, closes + timedelta(minutes=30), 5) is None
