"""The connect command (issue 16 #3): the template filled per argument, the refusals, the run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cmltui.config import Config, ConfigError, load_config, parse_config
from cmltui.config.connect import CONNECT_PLACEHOLDERS
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.services.connect import (
    ConnectOutcome,
    connect_values,
    fill_command,
    plan_connect,
    run_connect_blocking,
)
from tests.ui.fake_service import make_snapshot


def _config(**connect: object) -> Config:
    return parse_config({"cml_worker_username": "sysadmin", "connect": connect})


def _worker(**overrides: object):
    base = {
        "name": "cml-lab-01",
        "region": "eu-west-1",
        "aws_instance_id": "i-0123456789abcdef0",
        "public_ip": "203.0.113.7",
        "private_ip": "10.1.2.3",
        "https_endpoint": "https://203.0.113.7",
    }
    return make_snapshot(0, **{**base, **overrides})


# ---------------------------------------------------------------- the template
def test_every_placeholder_is_filled_with_the_worker_value(tmp_path):
    key = tmp_path / "cml.pem"
    key.write_text("key")
    every = [f"{name}={{{name}}}" for name in CONNECT_PLACEHOLDERS]
    config = _config(command=["probe", *every], key_file=str(key))
    plan = plan_connect(_worker(), config)
    assert plan.refusal is None
    assert plan.argv == (
        "probe",
        "instance_id=i-0123456789abcdef0",
        "region=eu-west-1",
        "host=203.0.113.7",
        "public_ip=203.0.113.7",
        "private_ip=10.1.2.3",
        "username=sysadmin",
        f"key_file={key}",
        "name=cml-lab-01",
        "endpoint=https://203.0.113.7",
    )
    # The values cover exactly the placeholders the config accepts.
    assert set(connect_values(_worker(), config)) == set(CONNECT_PLACEHOLDERS)


def test_the_default_is_ssh_as_cml_worker_username_to_the_public_ip():
    plan = plan_connect(_worker(), _config())
    assert plan.argv == ("ssh", "sysadmin@203.0.113.7")
    assert plan.program == "ssh"


def test_prefer_private_ip_makes_host_the_private_ip():
    plan = plan_connect(_worker(), _config(prefer_private_ip=True))
    assert plan.argv == ("ssh", "sysadmin@10.1.2.3")


def test_the_ssm_alternative_fills_instance_and_region():
    command = ["aws", "ssm", "start-session", "--target", "{instance_id}", "--region", "{region}"]
    plan = plan_connect(_worker(public_ip=None), _config(command=command))
    # No public IP is needed when the command does not use one.
    assert plan.argv == (
        "aws",
        "ssm",
        "start-session",
        "--target",
        "i-0123456789abcdef0",
        "--region",
        "eu-west-1",
    )


@pytest.mark.parametrize(
    "name",
    [
        "lab one",
        'it"s; rm -rf /',
        "a'b $(touch x) `y` | z > w",
        "{host} {{x}} %s",
        "-oProxyCommand=evil",
        "tab\there",
    ],
)
def test_remote_values_stay_one_argument_as_written(name):
    plan = plan_connect(_worker(name=name), _config(command=["probe", "{name}", "n={name}!"]))
    assert plan.argv == ("probe", name, f"n={name}!")


def test_literal_braces_and_text_around_placeholders():
    assert fill_command(
        ["x", "{{{host}}}", "a{name}b{region}c"],
        {
            "host": "h",
            "name": "n",
            "region": "r",
        },
    ) == ["x", "{h}", "anbrc"]


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["ssh", "{user}@{host}"], "{user} is not one"),
        (["ssh", "{host.x}"], "{host.x} is not one"),
        (["ssh", "{0}"], "{0} is not one"),
        (["ssh", "{}"], "{} is not one"),
        (["ssh", "{host!r}"], "use plain {host}"),
        (["ssh", "{host:>20}"], "use plain {host}"),
        (["ssh", "{host"], "{{ }} for braces"),
        (["{host}", "x"], "name the program itself first"),
        ([], "name a program first"),
        ("ssh admin@host", "must be a list"),
    ],
)
def test_a_bad_command_is_a_one_line_config_error_at_load(tmp_path, command, words):
    path = tmp_path / "config.toml"
    path.write_text(f"[connect]\ncommand = {json.dumps(command)}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: connect.command must ")
    assert words in message
    assert "\n" not in message


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"status": CMLWorkerStatus.STOPPED}, "it is stopped"),
        ({"service_status": CMLServiceStatus.STARTING}, "CML is starting, not available"),
        ({"https_endpoint": None}, "it has no endpoint yet"),
    ],
)
def test_the_domain_rule_refuses_with_its_reason(overrides, reason):
    plan = plan_connect(_worker(**overrides), _config())
    assert plan.argv == ()
    assert plan.refusal == reason


def test_a_missing_host_ip_is_a_refusal():
    plan = plan_connect(_worker(public_ip=None), _config())
    assert plan.refusal == (
        "it has no public IP (its private IP 10.1.2.3 is used with prefer_private_ip = true "
        "in [connect])"
    )
    plan = plan_connect(_worker(public_ip=None, private_ip=None), _config())
    assert plan.refusal == "it has no IP address"
    plan = plan_connect(_worker(private_ip=None), _config(prefer_private_ip=True))
    assert plan.refusal == "it has no private IP (prefer_private_ip = true in [connect])"
    plan = plan_connect(_worker(private_ip=None), _config(command=["x", "{private_ip}"]))
    assert plan.refusal == "it has no private IP"


def test_an_address_that_is_not_an_ip_is_not_used():
    plan = plan_connect(_worker(public_ip="-oProxyCommand=x"), _config())
    assert plan.refusal is not None and plan.refusal.startswith("it has no public IP")


def test_a_key_file_unset_or_missing_is_a_refusal(tmp_path):
    command = ["ssh", "-i", "{key_file}", "{username}@{host}"]
    plan = plan_connect(_worker(), _config(command=command))
    assert plan.refusal == "the command uses {key_file} and [connect] key_file is not set"
    missing = tmp_path / "nope.pem"
    plan = plan_connect(_worker(), _config(command=command, key_file=str(missing)))
    assert plan.refusal == f"the key file {missing} does not exist ([connect] key_file)"
    missing.write_text("key")
    plan = plan_connect(_worker(), _config(command=command, key_file=str(missing)))
    assert plan.argv == ("ssh", "-i", str(missing), "sysadmin@203.0.113.7")


def test_a_key_file_path_expands_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "k.pem").write_text("key")
    plan = plan_connect(_worker(), _config(command=["ssh", "-i", "{key_file}"], key_file="~/k.pem"))
    assert plan.argv == ("ssh", "-i", str(tmp_path / "k.pem"))


# ---------------------------------------------------------------- the run
def _argv_writer(tmp_path: Path, exit_status: int = 0) -> tuple[list[str], Path]:
    """A stand-in command: a Python script writing its arguments as JSON, then exiting."""
    out = tmp_path / "argv.json"
    script = tmp_path / "stand_in.py"
    script.write_text(
        "import json, sys\n"
        f"open({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"sys.exit({exit_status})\n"
    )
    return [sys.executable, str(script)], out


def test_the_command_runs_with_its_arguments_as_given(tmp_path):
    program, out = _argv_writer(tmp_path, exit_status=255)
    arguments = ["it's; echo pwned", "$(id)", "a b"]
    outcome = run_connect_blocking([*program, *arguments])
    assert json.loads(out.read_text()) == arguments
    assert outcome == ConnectOutcome(Path(sys.executable).name, exit_status=255)
    assert outcome.summary() == f"{Path(sys.executable).name} exited with 255"
    assert not outcome.ok
    assert outcome.exit_code == 255
    assert not (tmp_path / "pwned").exists()


def test_a_missing_program_says_so_in_one_line(tmp_path):
    outcome = run_connect_blocking([str(tmp_path / "no-ssh-here"), "x"])
    assert outcome.exit_status is None
    assert outcome.summary() == (
        f"cannot run {tmp_path / 'no-ssh-here'}: no such program "
        "(install it or change [connect] command)"
    )
    assert outcome.exit_code == 2
    not_executable = tmp_path / "script"
    not_executable.write_text("#!/bin/sh\n")
    outcome = run_connect_blocking([str(not_executable)])
    assert outcome.summary().startswith(f"cannot run {not_executable}: permission denied")


def test_a_command_ended_by_a_signal_is_named():
    outcome = ConnectOutcome("ssh", exit_status=-15)
    assert outcome.summary() == "ssh was ended by SIGTERM"
    assert outcome.exit_code == 143
    assert ConnectOutcome("ssh", exit_status=0).ok
