"""Bad usage and bad configuration exit 2 with one clear message, never a traceback.

Real ``cmltui`` processes. None of these reaches AWS: each is refused before anything is opened
(the data folder is checked not to exist afterwards where that matters).
"""

from __future__ import annotations

import pytest

from tests.cli.helpers import log_file, offline_config, run_cmltui, seed_store, write_config


def _assert_usage_error(result, *expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["demo-servers", "--workers", "-1"], "--workers: must be 0 or more, not -1"),
        (["demo-servers", "--workers", "many"], "--workers: a whole number is needed"),
        (["demo-servers", "--regions", ""], "--regions: at least one region"),
        (["demo-servers", "--regions", " , "], "--regions: at least one region"),
        (["demo-servers", "--regions", "us-east-1,,us-west-2"], "an empty region name"),
        (["demo-servers", "--regions", "US_EAST_1"], "'US_EAST_1' is not an AWS region name"),
        (["demo-servers", "--regions", "us-east-1,us-east-1"], "each region once"),
        (["--demo", "--demo-workers", "-1"], "--demo-workers: must be 0 or more, not -1"),
        (["events", "--limit", "-1"], "--limit: must be 0 or more"),
        (["events", "--limit", "0"], "--limit: must be 1 or more"),
        (["create", "--name", "x", "--region", "nowhere"], "'nowhere' is not an AWS region"),
        (
            ["demo-servers", "--regions", "us-east-1,xx-nowhere-1"],
            "the demo's AWS (moto) has no region xx-nowhere-1",
        ),
    ],
)
def test_bad_arguments_exit_2_and_start_nothing(tmp_path, args, expected):
    # A timeout here means the bad value was replaced by a default and the servers started.
    result = run_cmltui(tmp_path, *args, config=offline_config(tmp_path), timeout=60)
    _assert_usage_error(result, expected)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "regions",
    [["US-EAST-1"], ["us east 1"], ["us-east"], ["xx"], ["us-east-1", "eu_west_1"]],
)
def test_region_names_that_are_not_region_shaped_are_a_configuration_error(tmp_path, regions):
    config = write_config(tmp_path / "config.toml", {"regions": regions})
    result = run_cmltui(tmp_path, "list", config=config)
    _assert_usage_error(
        result, "configuration error", str(config), "regions must be AWS region names"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_region_aws_and_moto_know_is_region_shaped():
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    from cmltui.config import region_problem

    session = boto3.Session()
    known = set(ec2_backends[DEFAULT_ACCOUNT_ID].regions)
    for partition in session.get_available_partitions():
        known |= set(session.get_available_regions("ec2", partition_name=partition))
    assert len(known) > 30
    assert [region for region in sorted(known) if region_problem(region)] == []


def test_unknown_aws_profile_is_a_configuration_error(tmp_path):
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("[profile real]\nregion = us-east-1\n", encoding="utf-8")
    env = {"AWS_CONFIG_FILE": str(aws_config)}
    config = offline_config(tmp_path, aws={"profile": "nope"})

    by_config = run_cmltui(tmp_path, "list", config=config, env=env)
    _assert_usage_error(by_config, "[aws] profile", "no AWS profile named 'nope'")
    assert len(by_config.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()  # refused before the store was opened

    by_env = run_cmltui(
        tmp_path,
        "list",
        config=offline_config(tmp_path, "plain.toml"),
        env={**env, "AWS_PROFILE": "nope2"},
    )
    _assert_usage_error(by_env, "$AWS_PROFILE", "no AWS profile named 'nope2'")
    dashboard = run_cmltui(tmp_path, config=config, env=env)
    _assert_usage_error(dashboard, "no AWS profile named 'nope'")


def test_create_refuses_a_bad_name_or_an_unconfigured_region_before_aws(tmp_path):
    config = offline_config(tmp_path)
    hidden = run_cmltui(
        tmp_path, "create", "--name", "lab\u200b", "--region", "us-east-1", config=config
    )
    _assert_usage_error(hidden, "zero-width")
    assert "\u200b" not in hidden.stderr
    elsewhere = run_cmltui(
        tmp_path, "create", "--name", "lab", "--region", "eu-west-1", config=config
    )
    _assert_usage_error(elsewhere, "eu-west-1 is not among the configured regions (us-east-1)")


def test_a_config_path_that_cannot_be_looked_at_is_a_configuration_error(tmp_path):
    # Before: an OSError before logging was set up printed a whole traceback on the terminal.
    result = run_cmltui(tmp_path, "--config", "/" + "a" * 5000, "list")
    _assert_usage_error(result, "configuration error", "File name too long")


def test_no_traceback_reaches_the_terminal_when_the_log_cannot_be_written(tmp_path):
    seed_store(tmp_path / "data", ["alpha"])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    env = {"XDG_STATE_HOME": str(blocker / "state")}
    config = offline_config(tmp_path)

    listing = run_cmltui(tmp_path, "list", config=config, env=env)
    assert listing.returncode == 0, listing.stderr
    assert "alpha" in listing.stdout
    (warning,) = listing.stderr.splitlines()
    assert "cannot write the log file" in warning and "going on without a log" in warning

    long_path = run_cmltui(tmp_path, "--config", "/" + "b" * 5000, "list", env=env)
    _assert_usage_error(long_path, "File name too long")
    assert not log_file(tmp_path).exists()


def test_a_data_folder_under_a_file_stops_commands_and_the_dashboard_in_one_line(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep\n", encoding="utf-8")
    config = offline_config(tmp_path, data_dir=str(blocker / "sub"))
    expected = (
        f"cmltui: cannot use the data folder {blocker / 'sub'}: {blocker} is a file, not a "
        "folder; fix it or set data_dir in the configuration"
    )
    for args in (["list"], ["auto-stop", "off", "x"], [], ["--read-only", "list"]):
        result = run_cmltui(tmp_path, *args, config=config)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr == expected + "\n", args
        assert result.stdout == ""
    assert blocker.read_text(encoding="utf-8") == "keep\n"


def test_create_refuses_the_name_of_a_live_worker_before_aws(tmp_path):
    seed_store(tmp_path / "data", ["Lab-1"])
    result = run_cmltui(
        tmp_path,
        "create",
        "--name",
        " lab-1 ",
        "--region",
        "us-east-1",
        config=offline_config(tmp_path),
    )
    _assert_usage_error(result, "a live worker already has the name lab-1", "id w0")
