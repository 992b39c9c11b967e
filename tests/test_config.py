"""Configuration: where it is read from, the documented example, and the errors it reports."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cmltui.config import (
    CONFIG_ENV_VAR,
    Config,
    ConfigError,
    default_config_path,
    describe_config_error,
    load_config,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


@pytest.fixture(autouse=True)
def isolated_config_home(tmp_path, monkeypatch):
    """The default location points into tmp_path; no CMLTUI_CONFIG from the caller leaks in."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    return tmp_path / "xdg" / "cmltui" / "config.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------- where the file is
def test_missing_default_file_means_defaults(isolated_config_home):
    assert default_config_path() == isolated_config_home
    config, path, warnings = load_config()
    assert config == Config()
    assert path == isolated_config_home
    assert warnings == []
    assert config.idle.threshold_minutes == 30 and config.idle.auto_stop is False
    assert config.cml.verify_tls is True
    assert config.cml.endpoint_template == "https://{public_ip}"
    assert config.cml_worker_default_tags == {"Product": "cml", "ManagedBy": "cmltui"}


def test_default_location_is_read(isolated_config_home):
    write(isolated_config_home, 'regions = ["eu-west-1"]\n')
    config, path, _ = load_config()
    assert config.regions == ["eu-west-1"] and path == isolated_config_home


def test_env_var_beats_default_location(tmp_path, monkeypatch, isolated_config_home):
    write(isolated_config_home, 'regions = ["eu-west-1"]\n')
    env_file = write(tmp_path / "env.toml", 'regions = ["ap-south-1"]\n')
    monkeypatch.setenv(CONFIG_ENV_VAR, str(env_file))
    config, path, _ = load_config()
    assert config.regions == ["ap-south-1"] and path == env_file


def test_cli_path_beats_env_var(tmp_path, monkeypatch):
    env_file = write(tmp_path / "env.toml", 'regions = ["ap-south-1"]\n')
    cli_file = write(tmp_path / "cli.toml", 'regions = ["us-west-2", "eu-central-1"]\n')
    monkeypatch.setenv(CONFIG_ENV_VAR, str(env_file))
    config, path, _ = load_config(str(cli_file))
    assert config.regions == ["us-west-2", "eu-central-1"] and path == cli_file


def test_a_named_file_that_is_missing_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no such configuration file") as info:
        load_config(tmp_path / "absent.toml")
    assert str(tmp_path / "absent.toml") in str(info.value)
    monkeypatch.setenv(CONFIG_ENV_VAR, str(tmp_path / "also-absent.toml"))
    with pytest.raises(ConfigError, match=r"also-absent\.toml"):
        load_config()


def test_values_are_loaded_into_the_models(tmp_path, monkeypatch):
    path = write(
        tmp_path / "c.toml",
        """
regions = ["us-east-1", "eu-west-1"]
cml_worker_ami_ids = { "us-east-1" = "ami-1" }
[aws]
endpoint_url = "http://127.0.0.1:5000"
[cml]
password_env = "MY_CML_PW"
endpoint_template = "https://{private_ip}:8443"
[idle]
threshold_minutes = 45
auto_stop = true
[cost.hourly_usd]
"c5.2xlarge" = 0.5
""",
    )
    monkeypatch.setenv("MY_CML_PW", "s3cret")
    config, _, _ = load_config(path)
    assert config.cml_worker_ami_ids == {"us-east-1": "ami-1"}
    assert config.aws.endpoint_url == "http://127.0.0.1:5000"
    assert config.cml.password == "s3cret"
    assert config.cml.endpoint_template == "https://{private_ip}:8443"
    assert (config.idle.threshold_minutes, config.idle.auto_stop) == (45, True)
    assert config.cost.hourly_for("c5.2xlarge") == 0.5
    assert config.cost.hourly_for("unknown.type") == 0.0


# ---------------------------------------------------------------- errors name file and key
def test_bad_toml_syntax(tmp_path):
    path = write(tmp_path / "bad.toml", 'regions = ["us-east-1"\n[idle\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "TOML syntax error" in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 'red'\n", "colour"),
        ("[idle]\nthreshold = 5\n", "idle.threshold"),
        ("[cml]\npassword = 'x'\n", "cml.password"),
        ("[nonsense]\na = 1\n", "nonsense"),
    ],
)
def test_unknown_key(tmp_path, text, key):
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert f"unknown key '{key}'" in message


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("regions = 'us-east-1'\n", 'regions must be a list, like ["a", "b"] (got \'us-east-1\')'),
        ("regions = []\n", 'regions must name at least one region, like ["us-east-1"] (got [])'),
        ("regions = [1]\n", "regions[0] must be text in quotes (got 1)"),
        (
            "[idle]\nthreshold_minutes = 'thirty'\n",
            "idle.threshold_minutes must be a whole number (got 'thirty')",
        ),
        (
            "[idle]\nthreshold_minutes = 2.5\n",
            "idle.threshold_minutes must be a whole number (got 2.5)",
        ),
        ("[idle]\nthreshold_minutes = 0\n", "idle.threshold_minutes must be at least 1 (got 0)"),
        (
            "[idle]\nauto_stop = 'sometimes'\n",
            "idle.auto_stop must be true or false (got 'sometimes')",
        ),
        (
            "[cml]\nendpoint_template = 'https://{host}'\n",
            "cml.endpoint_template must be a URL using only {public_ip}",
        ),
        ("[refresh]\nec2_seconds = 0.1\n", "refresh.ec2_seconds must be at least 1 (got 0.1)"),
        ("[refresh]\ncml_seconds = 'abc'\n", "refresh.cml_seconds must be a number (got 'abc')"),
        (
            "[cml]\nconnect_timeout_seconds = 0\n",
            "cml.connect_timeout_seconds must be more than 0 (got 0)",
        ),
        ("[aws]\ntotal_max_attempts = 11\n", "aws.total_max_attempts must be at most 10 (got 11)"),
        ("[aws]\nprofile = 3\n", "aws.profile must be text in quotes (got 3)"),
        ("idle = 5\n", "idle must be a table (a [section] of keys) (got 5)"),
        (
            "[cost]\nhourly_usd = { x = 'cheap' }\n",
            "cost.hourly_usd.x must be a number (got 'cheap')",
        ),
    ],
)
def test_wrong_type_or_value_is_one_sentence(tmp_path, text, sentence):
    """File, key, what it must be and what it is; no pydantic wording (issue 15 #8)."""
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {sentence}")
    assert "\n" not in message
    for pydantic_words in ("Input should", "valid ", "expected ", "Value error"):
        assert pydantic_words not in message


class _Kinds(BaseModel):
    """Error kinds no cmltui setting produces today, worded like the others all the same."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["fast", "slow"] = "fast"
    needed: int
    few: list[int] = Field(default=[], max_length=2)
    some: list[int] = Field(default=[1], min_length=1)


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"needed": 1, "mode": "quick"}, "mode must be one of 'fast' or 'slow' (got 'quick')"),
        ({}, "needed is missing"),
        ({"needed": 1, "few": [1, 2, 3]}, "few must have at most 2 entries (got [1, 2, 3])"),
        ({"needed": 1, "some": []}, "some must have at least 1 entries (got [])"),
        ({"needed": 1, "other": 1}, "unknown key 'other'"),
    ],
)
def test_other_error_kinds_are_one_sentence_too(data, sentence):
    with pytest.raises(ValidationError) as info:
        _Kinds.model_validate(data)
    message = describe_config_error("config.toml", info.value)
    assert message.startswith(f"config.toml: {sentence}")
    assert "Input should" not in message


def test_not_utf8(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"regions = ['\xff\xfe']\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_a_secret_readable_by_others_is_warned_about(tmp_path):
    path = write(tmp_path / "c.toml", "[cml]\nusername = 'admin'\n# password = 'x'\n")
    path.chmod(0o644)
    _, _, warnings = load_config(path)
    assert len(warnings) == 1 and "chmod 600" in warnings[0]
    path.chmod(0o600)
    assert load_config(path)[2] == []


# ---------------------------------------------------------------- the documented example
def test_example_file_loads_to_exactly_the_defaults():
    config, path, warnings = load_config(EXAMPLE)
    assert path == EXAMPLE
    assert config == Config()
    assert warnings == []


def _keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """(section, key) of every field; sections are the nested models."""
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_keys(annotation, name))
        else:
            keys.append((prefix, name))
    return keys


def test_example_file_documents_every_key_with_a_comment():
    text = EXAMPLE.read_text()
    # Split the example into its sections; keys may be commented out (no default value).
    sections: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        header = re.match(r"^\[([a-z_.]+)\]$", line.strip())
        if header:
            current = header.group(1)
            continue
        sections[current] = sections.get(current, "") + line + "\n"
    for section, key in _keys(Config):
        if f"{section}.{key}" in sections:  # a table documented as its own [section.key]
            assert sections[f"{section}.{key}"].lstrip().startswith("#")
            continue
        body = sections.get(section, "")
        match = re.search(rf"^(?:# )?{key} = .*$", body, flags=re.MULTILINE)
        assert match, f"config.example.toml does not document [{section or 'top level'}] {key}"
        previous = body[: match.start()].rstrip("\n").splitlines()[-1]
        assert previous.startswith("#"), f"{key} has no comment line above it"


# ---------------------------------------------------------------- settings of new workers
def test_a_name_in_the_default_tags_is_refused_because_the_worker_name_owns_it(tmp_path):
    """cmltui sets the Name tag to the worker's name; a configured Name used to be overwritten
    without a word (issue 15 #12)."""
    path = write(
        tmp_path / "c.toml", 'cml_worker_default_tags = { Name = "cml-{worker_id}", Team = "x" }\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "cml_worker_default_tags" in message
    assert "'Name' is the worker's name" in message
    assert "\n" not in message
    # Other tags, a tag named differently ("name", "Owner") included, are kept.
    path.write_text('cml_worker_default_tags = { name = "lower", Owner = "{name}" }\n')
    config, _, _ = load_config(path)
    assert config.cml_worker_default_tags == {"name": "lower", "Owner": "{name}"}
    assert "Name" not in Config().cml_worker_default_tags


@pytest.mark.parametrize("username", ["", "two words", "root@host", "-oProxyCommand=x", "a\tb"])
def test_a_username_that_cannot_log_in_by_ssh_is_refused(tmp_path, username):
    path = write(tmp_path / "c.toml", f"cml_worker_username = {username!r}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "cml_worker_username" in str(info.value)


@pytest.mark.parametrize("username", ["admin", "sysadmin", "ubuntu", "ec2-user", "cml_ops.2"])
def test_usual_os_usernames_are_accepted(tmp_path, username):
    path = write(tmp_path / "c.toml", f"cml_worker_username = {username!r}\n")
    assert load_config(path)[0].cml_worker_username == username
