"""Shared fixtures: each file in tests/fixtures/ owns one kind of real part.

Tiers: ``pytest -m "not slow" -n 2`` is the quick tier for the edit loop (under a minute on
two cores); CI runs everything. Every test under ``SLOW_PATHS`` or using one of
``SLOW_FIXTURES`` is slow (real processes, tmux, kills, the real stack under the UI, screenshot
comparisons); elsewhere a test that takes seconds carries ``@pytest.mark.slow`` itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.store_fixtures",
    "tests.fixtures.moto_fixtures",
    "tests.fixtures.cml_fixtures",
    "tests.fixtures.fleet_fixtures",
]

TESTS = Path(__file__).resolve().parent

#: Folders and modules whose every test is slow (paths under tests/): cli, the real ``cmltui``
#: process per test; e2e, the app in tmux; reliability, kills, crashes, fault injection and
#: property runs; the bench scripts' smoke runs; the CLI end to end over moto and the fake CML;
#: the app over the real controller.
SLOW_PATHS = (
    "cli/",
    "e2e/",
    "reliability/",
    "test_bench_smoke.py",
    "services/test_cli_end_to_end.py",
    "ui/test_real_controller.py",
)

#: Fixtures that make a test slow wherever it is: ``make_fleet``, the app over the real
#: controller (moto, fake CML, data file) rather than a fake service; ``snap_compare``, a
#: screenshot (SVG) compared with its snapshot. The quick tier checks behaviour; CI, pixels too.
SLOW_FIXTURES = frozenset({"make_fleet", "snap_compare"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        relative = item.path.resolve().relative_to(TESTS).as_posix()
        fixtures = set(getattr(item, "fixturenames", ()))
        if relative.startswith(SLOW_PATHS) or fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
