"""[schedules.NAME] tables: read into domain schedules, every mistake one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, time

import pytest

from cmltui.config import Config, ConfigError, load_config
from cmltui.domain.schedule import window_at
from cmltui.services.schedules import schedules_from_config

GOOD = """
[schedules]
default_lead_minutes = 20

[schedules.emea-class]
zone = "Europe/Paris"
windows = [
  { days = "mon-fri", start = "09:00", end = "17:30" },
  { days = ["sat"], start = 22:00:00, end = "02:00" },
]
skip_dates = ["2026-12-25", 2027-01-01]
lead_minutes = 25
force = true
idle_minutes = 20
close_grace_minutes = 3

[schedules.us-evening]
zone = "America/New_York"
windows = [{ days = "fri-mon", start = "18:00", end = "21:00" }]
"""


def test_schedules_load_into_domain_schedules(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    config, _, _ = load_config(path)
    assert config.schedules.default_lead_minutes == 20
    schedules = schedules_from_config(config)
    assert sorted(schedules) == ["emea-class", "us-evening"]
    emea = schedules["emea-class"]
    assert emea.zone.key == "Europe/Paris"
    assert [sorted(w.days) for w in emea.windows] == [[0, 1, 2, 3, 4], [5]]
    assert emea.windows[1].start == time(22, 0) and emea.windows[1].end == time(2, 0)
    assert emea.skip_dates == {date(2026, 12, 25), date(2027, 1, 1)}
    assert (emea.lead_minutes, emea.force, emea.idle_minutes) == (25, True, 20)
    assert emea.close_grace_minutes == 3
    us = schedules["us-evening"]
    assert sorted(us.windows[0].days) == [0, 4, 5, 6]  # fri-mon wraps over the weekend
    assert (us.lead_minutes, us.force, us.idle_minutes) == (None, False, None)
    assert us.close_grace_minutes == 5  # the default
    # Monday 2026-01-05 10:00 Paris is inside emea-class.
    assert window_at(emea, datetime(2026, 1, 5, 9, tzinfo=UTC)) is not None


def test_no_schedules_by_default():
    assert schedules_from_config(Config()) == {}
    assert Config().schedules.named == {}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('zone = "Mars/Olympus"', "schedules.x.zone must be an IANA time zone name"),
        ('zone = "../../etc/passwd"', "schedules.x.zone must be an IANA time zone name"),
        ("windows = []", "schedules.x.zone is missing"),
        (
            'zone = "UTC"\nwindows = [{ days = "mon-fry", start = "08:00", end = "09:00" }]',
            "schedules.x.windows[0].days must be day names (mon, tue",
        ),
        (
            'zone = "UTC"\nwindows = [{ days = [], start = "08:00", end = "09:00" }]',
            "schedules.x.windows[0].days must be day names",
        ),
        (
            'zone = "UTC"\nwindows = [{ days = "mon", start = "8h", end = "09:00" }]',
            "schedules.x.windows[0].start must be a time like \"08:30\" (got '8h')",
        ),
        (
            'zone = "UTC"\nwindows = [{ days = "mon", start = "08:00" }]',
            "schedules.x.windows[0].end is missing",
        ),
        (
            'zone = "UTC"\nskip_dates = ["2026-02-30"]',
            'schedules.x.skip_dates[0] must be a date like "2026-12-25"',
        ),
        ('zone = "UTC"\nlead_minutes = -5', "schedules.x.lead_minutes must be at least 0"),
        ('zone = "UTC"\nidle_minutes = 0', "schedules.x.idle_minutes must be at least 1"),
        (
            'zone = "UTC"\nclose_grace_minutes = -1',
            "schedules.x.close_grace_minutes must be at least 0",
        ),
        ('zone = "UTC"\nforce = "perhaps"', "schedules.x.force must be true or false"),
        ('zone = "UTC"\nholidays = []', "unknown key 'schedules.x.holidays'"),
    ],
)
def test_a_bad_schedule_is_one_line_naming_the_key(tmp_path, table, expected):
    path = tmp_path / "config.toml"
    path.write_text(f"[schedules.x]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_an_unknown_zone_stops_the_cli_with_exit_2_and_one_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[schedules.emea]\nzone = "Europe/Pariss"\n')
    result = subprocess.run(
        [sys.executable, "-m", "cmltui", "--config", str(path), "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{path}: schedules.emea.zone must be an IANA time zone name" in lines[0]
    assert "(got 'Europe/Pariss')" in lines[0]
    assert "Traceback" not in result.stderr
