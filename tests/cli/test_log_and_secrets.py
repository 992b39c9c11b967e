"""The CML password file is checked like the config file; the log rotates, every file 0600."""

from __future__ import annotations

import logging
import os

import pytest

from cmltui.config import CmlConfig, ConfigError, LogConfig, load_config, read_password_file
from cmltui.logfile import private_log_handler
from cmltui.wiring import setup_logging
from tests.cli.helpers import log_file, offline_config, run_cmltui, write_config

NO_PASSWORD_ENV = "CMLTUI_TEST_UNSET_PASSWORD_VARIABLE"


def _password_config(tmp_path, password_file) -> object:
    return offline_config(
        tmp_path, cml={"password_env": NO_PASSWORD_ENV, "password_file": str(password_file)}
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", "no such file"),
        ("empty", "is empty"),
        ("blank", "is empty"),
        ("folder", "is a folder, not a file holding the password"),
        ("fifo", "is not a regular file"),
        ("huge", "holds 10000 bytes, too many for a password"),
    ],
)
def test_an_unusable_password_file_is_named_with_its_cause(tmp_path, kind, expected):
    path = tmp_path / "cml-password"
    if kind == "empty":
        path.write_text("", encoding="utf-8")
    elif kind == "blank":
        path.write_text("  \n\n", encoding="utf-8")
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # reading it would wait for a writer forever
    elif kind == "huge":
        path.write_bytes(b"x" * 10_000)
    if path.is_file():
        path.chmod(0o600)

    assert read_password_file(path) == (None, f"{path}: {expected}")
    result = run_cmltui(tmp_path, "list", config=_password_config(tmp_path, path))
    assert result.returncode == 0, result.stderr
    (warning,) = result.stderr.splitlines()
    assert warning == (f"warning: CML password file {path}: {expected}; CML logins will fail")


def test_a_password_file_readable_by_others_is_warned_about(tmp_path):
    path = tmp_path / "cml-password"
    path.write_text("s3cret\n", encoding="utf-8")
    path.chmod(0o644)
    config = _password_config(tmp_path, path)

    loose = run_cmltui(tmp_path, "list", config=config)
    assert loose.returncode == 0, loose.stderr
    (warning,) = loose.stderr.splitlines()
    assert warning == (
        f"warning: the CML password file {path} is readable by others: chmod 600 {path}"
    )
    assert "s3cret" not in loose.stdout + loose.stderr

    path.chmod(0o600)
    tight = run_cmltui(tmp_path, "list", config=config)
    assert tight.returncode == 0 and tight.stderr == ""
    assert CmlConfig(password_env=NO_PASSWORD_ENV, password_file=str(path)).password == "s3cret"


def test_the_environment_variable_wins_and_silences_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv(NO_PASSWORD_ENV, "from-env")
    settings = CmlConfig(password_env=NO_PASSWORD_ENV, password_file=str(tmp_path / "absent"))
    assert settings.password == "from-env"
    assert settings.password_warnings() == []


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[log]\nmax_bytes = 100\n", "log.max_bytes"),
        ("[log]\nbackup_count = 0\n", "log.backup_count"),
    ],
)
def test_log_bounds_are_checked(tmp_path, text, key):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{key} must be at "):
        load_config(path)


@pytest.fixture
def isolated_root_logger():
    """Handlers added to the root logger by the test are closed and removed afterwards."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield root
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_the_log_rotates_at_its_bound_and_every_file_stays_private(tmp_path, isolated_root_logger):
    old_umask = os.umask(0o022)  # what a fresh file gets without care: 0644
    try:
        path = setup_logging(tmp_path / "log", log_config=LogConfig(max_bytes=4096, backup_count=2))
        logger = logging.getLogger("cmltui.test-rotation")
        for number in range(400):
            logger.info("line %04d %s", number, "x" * 60)
    finally:
        os.umask(old_umask)
    names = sorted(p.name for p in (tmp_path / "log").iterdir())
    assert names == ["cmltui.log", "cmltui.log.1", "cmltui.log.2"]
    for name in names:
        file = tmp_path / "log" / name
        assert file.stat().st_size <= 4096, name
        assert file.stat().st_mode & 0o777 == 0o600, name
    assert "line 0399" in path.read_text(encoding="utf-8")


def test_a_second_setup_applies_the_configured_bound(tmp_path, isolated_root_logger):
    setup_logging(tmp_path / "log")
    setup_logging(tmp_path / "log", log_config=LogConfig(max_bytes=8192, backup_count=5))
    (handler,) = [
        h
        for h in isolated_root_logger.handlers
        if getattr(h, "baseFilename", "").startswith(str(tmp_path))
    ]
    assert (handler.maxBytes, handler.backupCount) == (8192, 5)


def test_the_handler_the_dashboard_opens_rotates_too(tmp_path):
    handler = private_log_handler(tmp_path / "cmltui.log")
    try:
        assert handler.maxBytes == LogConfig().max_bytes
        assert handler.backupCount == LogConfig().backup_count
    finally:
        handler.close()


def test_a_real_process_rotates_a_full_log(tmp_path):
    log = log_file(tmp_path)
    log.parent.mkdir(parents=True)
    log.write_text("old line\n" * 600, encoding="utf-8")  # 5,400 bytes, past the bound below
    config = write_config(
        tmp_path / "config.toml",
        {
            "data_dir": str(tmp_path / "data"),
            "aws": {"endpoint_url": "http://127.0.0.1:9"},
            "log": {"max_bytes": 4096, "backup_count": 1},
        },
    )
    result = run_cmltui(tmp_path, "list", config=config)
    assert result.returncode == 0, result.stderr
    rotated = log.with_name("cmltui.log.1")
    assert rotated.read_text(encoding="utf-8").startswith("old line")
    assert "list: exit code 0" in log.read_text(encoding="utf-8")
    assert log.stat().st_mode & 0o777 == 0o600
