"""Secrets stay out of files and output, files are private, TLS is on, no shell anywhere."""

from __future__ import annotations

import ast
import logging
import os
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cmltui.cml.pool import build_tls_verify
from cmltui.config import Config, load_config
from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN, DEMO_PASSWORD
from cmltui.demo.fleet import write_toml
from cmltui.wiring import setup_logging
from tests.fixtures.cml_fixtures import CML_TEST_PASSWORD_ENV
from tests.reliability.helpers import by_name, close_controller, with_cml

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "cmltui"
AWS_KEY_ID = "AKIACMLTUITESTKEY777"
AWS_SECRET = "cmltui/test+secret/access/key/never/logged"
BAD_TOKEN = "CMLTUI-WRONG-LICENCE-TOKEN-9876"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(config_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cmltui", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


async def test_no_secret_reaches_the_data_file_the_log_or_the_output(fleet, tmp_path):
    instance_id = await fleet.launch("lic", licensed=False)
    fleet.cml.worker(instance_id).registration_seconds = 0.0
    config_path = tmp_path / "config.toml"
    write_toml(config_path, fleet.config.model_dump(mode="json", exclude_none=True))
    env = {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        CML_TEST_PASSWORD_ENV: DEMO_PASSWORD,
    }
    outputs = []
    for token in (BAD_TOKEN, DEMO_LICENSE_TOKEN):
        result = _run(
            config_path, "license", "register", "lic", env={**env, "CML_LICENSE_TOKEN": token}
        )
        outputs.append(result.stdout + result.stderr)
    # The refused token is named by its last 4 characters only (CML echoes it in full).
    assert "not valid" in outputs[0] and "…9876" in outputs[0], outputs[0]
    assert "register licence: lic" in outputs[1], outputs
    listing = _run(config_path, "list", "--json", "--refresh", env=env)
    assert listing.returncode == 0, listing.stderr
    outputs.append(listing.stdout + listing.stderr)
    events = _run(config_path, "events", "lic", "--json", env=env)
    outputs.append(events.stdout + events.stderr)

    data_files = [p for p in Path(fleet.config.data_path).rglob("*") if p.is_file()]
    log_files = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert any(p.name == "cmltui.json" for p in data_files)
    assert any(p.name == "cmltui.log" for p in log_files)
    everything = {str(p): p.read_text("utf-8", errors="replace") for p in data_files + log_files}
    everything.update({f"output {i}": text for i, text in enumerate(outputs)})
    for secret in (DEMO_PASSWORD, DEMO_LICENSE_TOKEN, BAD_TOKEN, AWS_SECRET, AWS_KEY_ID):
        leaks = [where for where, text in everything.items() if secret in text]
        assert not leaks, f"{secret!r} found in {leaks}"
    # What is kept instead: the last four characters.
    data_text = everything[str(Path(fleet.config.data_path) / "cmltui.json")]
    assert "…0001" in data_text and "…9876" in data_text


async def test_data_and_log_files_are_0600_in_0700_folders(fleet, tmp_path):
    old_umask = os.umask(0o022)
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    level_before = root.level
    try:
        await fleet.launch("perm")
        controller = fleet.make_controller()
        await controller.refresh_once()
        data_dir = Path(fleet.config.data_path)
        assert _mode(data_dir) == 0o700
        for path in data_dir.iterdir():
            assert _mode(path) == 0o600, path

        log_path = setup_logging(tmp_path / "new" / "log")
        logging.getLogger("cmltui.test").warning("a line")
        assert _mode(log_path.parent) == 0o700
        assert _mode(log_path) == 0o600
        assert "a line" in log_path.read_text()
        # An existing log file with loose permissions is tightened.
        log_path.chmod(0o644)
        setup_logging(log_path.parent)
        assert _mode(log_path) == 0o600
    finally:
        os.umask(old_umask)
        for handler in list(root.handlers):
            if handler not in handlers_before:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level_before)


@pytest.mark.parametrize(
    ("content", "mode", "warned"),
    [
        ('[cml_worker_default_tags]\nApiToken = "abc"\n', 0o644, True),
        ('[aws]\nendpoint_url = "https://user:secret@proxy.example"\n', 0o640, True),
        ('[aws]\nendpoint_url = "https://user:secret@proxy.example"\n', 0o600, False),
        ('regions = ["us-east-1"]\n', 0o644, False),
    ],
)
def test_a_config_holding_a_secret_and_readable_by_others_is_warned_about(
    tmp_path, content, mode, warned
):
    path = tmp_path / "config.toml"
    path.write_text(content)
    path.chmod(mode)
    config, _, warnings = load_config(path)
    assert isinstance(config, Config)
    if warned:
        assert len(warnings) == 1
        assert "readable by others" in warnings[0] and f"chmod 600 {path}" in warnings[0]
    else:
        assert warnings == []


def test_the_cli_prints_the_config_warning(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[cml_worker_default_tags]\nToken = "x"\n')
    path.chmod(0o644)
    result = _run(path, "list", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "chmod 600" in result.stderr


def test_tls_is_verified_by_default():
    verify, error = build_tls_verify(Config().cml)
    assert error is None
    assert isinstance(verify, ssl.SSLContext)
    assert verify.verify_mode == ssl.CERT_REQUIRED and verify.check_hostname


async def test_turning_tls_verification_off_is_flagged_on_every_worker(fleet):
    await fleet.launch("insecure")
    secure = fleet.make_controller()
    await secure.refresh_once()
    assert by_name(secure)["insecure"].tls_insecure is False
    await close_controller(fleet, secure)
    controller = fleet.make_controller(with_cml(fleet.config, verify_tls=False, ca_bundle=None))
    await controller.refresh_once()
    worker = by_name(controller)["insecure"]
    assert worker.tls_insecure is True
    assert worker.last_error is None  # it works, and says it is not verified


def _shell_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("system", "popen", "create_subprocess_shell", "getoutput", "getstatusoutput"):
            found.append(f"{name}() at line {node.lineno}")
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            ):
                found.append(f"shell= at line {node.lineno}")
    return found


def test_no_subprocess_with_a_shell_anywhere_in_cmltui():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 30  # the whole package is scanned
    offenders = {
        str(path.relative_to(REPO_ROOT)): uses
        for path in sources
        if (uses := _shell_uses(ast.parse(path.read_text("utf-8"), filename=str(path))))
    }
    assert offenders == {}


def test_the_shell_detector_finds_what_it_looks_for():
    bad = ast.parse("import subprocess, os\nsubprocess.run('ls', shell=True)\nos.system('ls')\n")
    assert _shell_uses(bad) == ["shell= at line 2", "system() at line 3"]
