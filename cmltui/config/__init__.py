"""Configuration: TOML (tomllib) loaded into pydantic models, with platformdirs locations.

Where the file is: ``--config PATH``, else ``$CMLTUI_CONFIG``, else
``platformdirs.user_config_dir("cmltui")/config.toml``. A missing file means defaults. A bad
file raises ``ConfigError`` whose message names the file, the key and what was expected; the
CLI prints it and exits with code 2.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import ConfigDict, Field, ValidationError, field_validator

from cmltui.config.base import ConfigError
from cmltui.config.base import Section as _Section
from cmltui.config.connect import ConnectConfig
from cmltui.config.errors import describe_config_error
from cmltui.config.schedules import (
    ScheduleConfig,
    SchedulesConfig,
)

APP_NAME = "cmltui"
CONFIG_ENV_VAR = "CMLTUI_CONFIG"

#: What an AWS region name looks like: "us-east-1", "us-gov-west-1", "eusc-de-east-1".
REGION_PATTERN = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d+$")
#: An OS user name that can be used as ``user@address`` (POSIX portable names, 32 at most).
_OS_USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
#: A password file larger than this is not a password file (and /dev/zero never ends).
MAX_PASSWORD_FILE_BYTES = 4096


def region_problem(region: str) -> str | None:
    """Why ``region`` is not an AWS region name, or None when it is shaped like one."""
    if REGION_PATTERN.match(region):
        return None
    return f'{region!r} is not an AWS region name (like "us-east-1")'


def read_password_file(path: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """``(password, None)`` or ``(None, why it cannot be used)``; never blocks on a FIFO."""
    file = Path(path).expanduser()
    try:
        info = file.stat()
    except FileNotFoundError:
        return None, f"{file}: no such file"
    except OSError as err:
        return None, f"{file}: cannot be read ({err.strerror or err})"
    if stat.S_ISDIR(info.st_mode):
        return None, f"{file}: is a folder, not a file holding the password"
    if not stat.S_ISREG(info.st_mode):
        return None, f"{file}: is not a regular file"
    if info.st_size > MAX_PASSWORD_FILE_BYTES:
        return None, f"{file}: holds {info.st_size} bytes, too many for a password"
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{file}: is not UTF-8 text"
    except OSError as err:
        return None, f"{file}: cannot be read ({err.strerror or err})"
    password = text.strip()
    if not password:
        return None, f"{file}: is empty"
    return password, None


class AwsConfig(_Section):
    #: Named profile from ~/.aws; empty = the standard credential chain.
    profile: str | None = None
    #: For moto or LocalStack; boto3 also honours $AWS_ENDPOINT_URL.
    endpoint_url: str | None = None
    #: Total attempts per call, first one included (botocore's ``total_max_attempts``).
    total_max_attempts: int = Field(default=3, ge=1, le=10)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=20.0, gt=0)
    #: Bound on AWS calls in flight per region.
    max_concurrent_calls_per_region: int = Field(default=4, ge=1, le=64)
    #: Tag that marks instances cmltui manages.
    managed_tag_key: str = "cmltui:managed"
    #: Discovery: unmanaged instances whose AMI name matches one of these look like CML workers.
    discovery_ami_name_patterns: list[str] = ["CML-*", "cml-*"]
    #: Discovery: unmanaged instances carrying one of these tag keys look like CML workers.
    discovery_tag_keys: list[str] = ["cml:worker", "ccm:managed"]


class CmlConfig(_Section):
    username: str = "admin"
    #: Name of the environment variable holding the CML password (never stored in the data file).
    password_env: str = "CMLTUI_CML_PASSWORD"
    #: Or a file (mode 0600) holding only the password; the environment variable wins.
    password_file: str | None = None
    verify_tls: bool = True
    #: PEM file of the CA (or self-signed certificate) that CML certificates must chain to.
    ca_bundle: str | None = None
    #: How to reach a worker's CML: fields {public_ip}, {private_ip}, {public_dns}, {instance_id}.
    endpoint_template: str = "https://{public_ip}"
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=15.0, gt=0)
    #: Wall-clock limit on one call, retries and login included.
    total_timeout_seconds: float = Field(default=30.0, gt=0)
    #: Also the number of connections kept open per controller (each costs memory at scale).
    max_concurrent_requests_per_worker: int = Field(default=2, ge=1, le=64)
    #: Idle HTTPS connections are kept this long: longer than the CML refresh interval, so each
    #: cycle reuses its connections instead of repeating TLS handshakes.
    keepalive_seconds: float = Field(default=120.0, gt=0)
    max_concurrent_requests: int = Field(default=64, ge=1, le=4096)
    #: How long a licence registration is polled before it is reported as timed out.
    license_timeout_seconds: float = Field(default=90.0, gt=0)
    license_poll_seconds: float = Field(default=2.0, gt=0)
    #: A worker running longer than this whose CML refuses connections is "unreachable" (an
    #: error), not "starting": CML needs a few minutes after EC2 says running.
    boot_grace_minutes: float = Field(default=10.0, ge=0)

    @field_validator("endpoint_template")
    @classmethod
    def _template_has_known_fields(cls, value: str) -> str:
        # "{public_ip.x}" or "{instance_id[k]}" fail with AttributeError/TypeError: still a
        # bad value (a ConfigError), never a crash.
        try:
            value.format(public_ip="", private_ip="", public_dns="", instance_id="")
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as err:
            raise ValueError(
                "be a URL using only {public_ip}, {private_ip}, {public_dns}, {instance_id}"
            ) from err
        return value

    @property
    def password(self) -> str | None:
        """From the environment variable, else from ``password_file``; None when neither."""
        from_env = os.environ.get(self.password_env)
        if from_env:
            return from_env
        if self.password_file:
            return read_password_file(self.password_file)[0]
        return None

    def password_warnings(self) -> list[str]:
        """Problems of ``password_file`` worth telling the operator at start-up."""
        if not self.password_file:
            return []
        path = Path(self.password_file).expanduser()
        warnings = []
        with_env = bool(os.environ.get(self.password_env))
        if not with_env:
            _, problem = read_password_file(path)
            if problem:
                warnings.append(f"CML password file {problem}; CML logins will fail")
        try:
            mode = path.stat().st_mode
        except OSError:
            return warnings
        if stat.S_ISREG(mode) and mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.append(f"the CML password file {path} is readable by others: chmod 600 {path}")
        return warnings


class RefreshConfig(_Section):
    ec2_seconds: float = Field(default=15.0, ge=1)
    cloudwatch_seconds: float = Field(default=60.0, ge=5)
    cml_seconds: float = Field(default=30.0, ge=1)
    #: Licence state changes rarely: read it less often than telemetry (on a full read, see
    #: below, once this long has passed; at once when CML reports a licence event).
    cml_license_seconds: float = Field(default=300.0, ge=5)
    #: Every this many CML cycles a worker's system information and labs list are read again
    #: even when no event said they changed (between them: activity feed and stats only).
    cml_full_read_cycles: int = Field(default=15, ge=1)


class IdleConfig(_Section):
    threshold_minutes: int = Field(default=30, ge=1)
    auto_stop: bool = False
    #: CPU above this counts as activity.
    cpu_activity_threshold_percent: float = Field(default=10.0, ge=0, le=100)
    #: No auto-stop within this long after a start (by anyone, in cmltui or not).
    snooze_minutes: int = Field(default=60, ge=0)


class CostConfig(_Section):
    #: USD per hour by instance type (on-demand; edit for your region and pricing).
    hourly_usd: dict[str, float] = {
        "c5.2xlarge": 0.34,
        "c5.4xlarge": 0.68,
        "c5.9xlarge": 1.53,
        "m5.2xlarge": 0.384,
        "m5.4xlarge": 0.768,
        "m5zn.metal": 3.9641,
        "t3.xlarge": 0.1664,
        "t3.2xlarge": 0.3328,
    }
    #: Used for instance types missing above.
    default_hourly_usd: float = Field(default=0.0, ge=0)
    #: IANA zone whose days and weeks the cost figures count in; unset: this machine's zone.
    time_zone: str | None = None
    #: The first day of a cost week.
    week_starts: str = "monday"

    def hourly_for(self, instance_type: str) -> float:
        return self.hourly_usd.get(instance_type, self.default_hourly_usd)

    @field_validator("time_zone")
    @classmethod
    def _known_cost_zone(cls, value: str | None) -> str | None:
        if value is not None:
            ScheduleConfig._known_zone(value)
        return value

    @field_validator("week_starts")
    @classmethod
    def _day_of_week(cls, value: str) -> str:
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        wanted = value.strip().lower()
        for day in days:
            if wanted in (day, day[:3]):
                return day
        raise ValueError(f'be a day of the week, like "monday" or "sunday" (not {value!r})')


class LogConfig(_Section):
    #: The log file is rotated when it would grow past this many bytes.
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=4096)
    #: Rotated files kept beside it (cmltui.log.1 is the newest).
    backup_count: int = Field(default=3, ge=1, le=100)


class StoreConfig(_Section):
    #: "tinydb": the data file in data_dir (one operator); "dynamodb": a shared table (a team).
    backend: Literal["tinydb", "dynamodb"] = "tinydb"
    #: The DynamoDB table (``cmltui store init`` creates it).
    table: str = Field(default="cmltui", pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    #: The table's region; unset = the first of ``regions``.
    region: str | None = None

    @field_validator("region")
    @classmethod
    def _region_shape(cls, value: str | None) -> str | None:
        if value is not None:
            problem = region_problem(value.strip())
            if problem:
                raise ValueError(problem)
            return value.strip()
        return value


class UiConfig(_Section):
    #: A Textual theme ("textual-dark", "nord", ...), checked where the themes are known
    #: (``cmltui.ui.keymap``); the command palette's theme choice is written back here.
    theme: str = "textual-dark"
    #: A terminated worker stays in the table this many days after its end, then is hidden
    #: until the operator shows terminated workers (a key); 0 hides each one at once.
    terminated_visible_days: float = Field(default=1, ge=0)


class KeymapConfig(_Section):
    """``[keymap]``: action id = "keys" for the fleet view; ``[keymap.labs_screen]``: the same for
    the labs screen.

    Ids and keys are checked where the action registry is known (``cmltui.ui.keymap``).
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    #: Every key of the table but ``labs_screen`` is a fleet-view action id (``labs`` is one:
    #: the key that opens the labs screen); its value, the keys.
    __pydantic_extra__: dict[str, str] = Field(init=False)
    labs_screen: dict[str, str] = {}

    @property
    def fleet(self) -> dict[str, str]:
        return dict(self.model_extra or {})


class Config(_Section):
    regions: list[str] = ["us-east-1"]
    read_only: bool = False
    #: Folder of the data file and its lock; empty = platformdirs' user data folder.
    data_dir: str | None = None

    cml_worker_ami_ids: dict[str, str] = {}
    cml_worker_ami_names: dict[str, str] = {}
    cml_worker_instance_type: str = "c5.2xlarge"
    cml_worker_security_group_ids: list[str] = []
    cml_worker_security_group_names: list[str] = []
    #: New workers go into a subnet of this VPC (``cmltui.aws.placement``).
    cml_worker_vpc_id: str | None = None
    cml_worker_subnet_id: str | None = None
    cml_worker_key_name: str | None = None
    #: OS user of the CML image: the SSH login shown for a worker (``user@address``).
    cml_worker_username: str = "admin"
    #: No "Name": the worker's name is its Name tag.
    cml_worker_default_tags: dict[str, str] = {"Product": "cml", "ManagedBy": "cmltui"}

    aws: AwsConfig = AwsConfig()
    cml: CmlConfig = CmlConfig()
    refresh: RefreshConfig = RefreshConfig()
    idle: IdleConfig = IdleConfig()
    schedules: SchedulesConfig = SchedulesConfig()
    cost: CostConfig = CostConfig()
    log: LogConfig = LogConfig()
    store: StoreConfig = StoreConfig()
    ui: UiConfig = UiConfig()
    keymap: KeymapConfig = KeymapConfig()
    connect: ConnectConfig = ConnectConfig()

    @field_validator("regions")
    @classmethod
    def _regions_not_empty(cls, value: list[str]) -> list[str]:
        cleaned = [r.strip() for r in value if r.strip()]
        if not cleaned:
            raise ValueError('name at least one region, like ["us-east-1"]')
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("name each region once")
        for region in cleaned:
            if region_problem(region):
                raise ValueError(f'be AWS region names like "us-east-1"; {region!r} is not one')
        return cleaned

    @field_validator("cml_worker_username")
    @classmethod
    def _username_logs_in(cls, value: str) -> str:
        # Shown and copied as "user@address": no spaces, "@" or leading "-" (an ssh option).
        if not _OS_USERNAME.match(value):
            raise ValueError(
                "be an OS user name like \"admin\" or \"ec2-user\" (letters, digits, '.', '_', "
                "'-'; not starting with '-')"
            )
        return value

    @field_validator("cml_worker_default_tags")
    @classmethod
    def _tags_fill_in(cls, value: dict[str, str]) -> dict[str, str]:
        if "Name" in value:
            raise ValueError(
                "have no 'Name' tag: 'Name' is the worker's name, which cmltui sets from the "
                "name given at creation; remove it"
            )
        # The gateway fills {worker_id}/{name} and keeps a tag it cannot fill as written
        # (KeyError, IndexError, ValueError), but attribute or index access on a field
        # ("{name.x}", "{name[k]}") would fail at launch time: refuse it here.
        for key, template in value.items():
            try:
                template.format(worker_id="w", name="n")
            except (AttributeError, TypeError):
                raise ValueError(
                    f"use plain {{worker_id}} / {{name}} in tag {key!r}, no '.' or '[...]'"
                ) from None
            except (KeyError, IndexError, ValueError):
                pass
        return value

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME))


def resolve_config_path(cli_path: str | os.PathLike[str] | None = None) -> Path:
    """``--config`` wins, then ``$CMLTUI_CONFIG``, then the platformdirs location."""
    if cli_path:
        return Path(cli_path).expanduser()
    if os.environ.get(CONFIG_ENV_VAR):
        return Path(os.environ[CONFIG_ENV_VAR]).expanduser()
    return default_config_path()


def parse_config(data: dict[str, Any], *, source: Path | str = "<config>") -> Config:
    """Validate a parsed TOML document; raise ``ConfigError`` naming the key on failure."""
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_config_error(source, err)) from None


def load_config(cli_path: str | os.PathLike[str] | None = None) -> tuple[Config, Path, list[str]]:
    """Load the configuration; returns it, its path and warnings (e.g. loose permissions)."""
    path = resolve_config_path(cli_path)
    warnings: list[str] = []
    try:
        exists = path.exists()
    except OSError as err:  # a name too long, a loop of links...
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    if not exists:
        if cli_path or os.environ.get(CONFIG_ENV_VAR):
            raise ConfigError(f"{path}: no such configuration file")
        return Config(), path, warnings
    try:
        raw_bytes = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: TOML syntax error: {err}") from None
    config = parse_config(data, source=path)
    warnings.extend(_permission_warnings(path, raw_bytes))
    warnings.extend(config.cml.password_warnings())
    return config, path, warnings


def _permission_warnings(path: Path, raw_bytes: bytes) -> list[str]:
    """Warn when a file that looks like it holds a secret is readable by group or others."""
    lowered = raw_bytes.lower()
    looks_secret = any(word in lowered for word in (b"password =", b"secret", b"token ="))
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if looks_secret and mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{path} seems to hold a secret and is readable by others: chmod 600 {path}"]
    return []
