"""Shared fixtures: each file in tests/fixtures/ owns one kind of real part."""

pytest_plugins = [
    "tests.fixtures.store_fixtures",
    "tests.fixtures.moto_fixtures",
    "tests.fixtures.cml_fixtures",
    "tests.fixtures.fleet_fixtures",
]
