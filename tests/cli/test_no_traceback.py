"""No error of any kind prints a traceback on the terminal: one line on stderr, the traceback in
the log file.

Real ``cmltui`` processes, each started through ``cmltui.__main__`` by a short script that
first makes one thing fail: a package blocked from importing (``sys.modules[name] = None``,
as when it is not installed), or one of cmltui's own functions replaced by one that raises.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import cmltui_env, log_file, offline_config

#: Terminal control sequences (CSI and OSC) the dashboard writes to stderr around its screen.
_CONTROL = re.compile(r"\x1b\[[0-9;?<>=$]*[A-Za-z~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x07")


def _run(tmp_path: Path, setup: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``cmltui ARGS`` after ``setup`` (Python run before cmltui's entry point is imported)."""
    script = f"import sys\n{setup}\nfrom cmltui.__main__ import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=cmltui_env(tmp_path),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _blocked(*modules: str) -> str:
    return "\n".join(f"sys.modules[{module!r}] = None" for module in modules)


def _terminal_lines(stderr: str) -> list[str]:
    return [line for line in _CONTROL.sub("", stderr).splitlines() if line.strip()]


def _assert_one_line(result: subprocess.CompletedProcess[str], code: int, line: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert _terminal_lines(result.stderr) == [line]


@pytest.mark.parametrize(
    ("module", "package"),
    [("cryptography", "cryptography"), ("yaml", "pyyaml"), ("moto", "moto"), ("flask", "moto")],
)
@pytest.mark.parametrize(
    ("args", "doing"), [(["--demo"], "--demo"), (["demo-servers"], "demo-servers")]
)
def test_a_demo_command_without_its_extra_names_the_extra_and_starts_nothing(
    tmp_path, module, package, args, doing
):
    # flask comes with moto[server]: moto without it is moto, incomplete.
    result = _run(tmp_path, _blocked(module), *args)
    _assert_one_line(
        result,
        2,
        f"cmltui: {doing} needs the 'demo' extra: pip install 'cmltui[demo]' "
        f"(not installed: {package})",
    )
    assert "Starting the demo fleet" not in result.stderr


def test_an_optional_package_that_fails_to_import_later_still_names_its_extra(tmp_path):
    # cryptography is found, but its x509 module does not import (a broken install): the check
    # before the demo passes, the demo's import fails, and the error still names the extra.
    result = _run(tmp_path, _blocked("cryptography.x509"), "--demo")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert _terminal_lines(result.stderr)[-1] == (
        "cmltui: demo dashboard needs the 'demo' extra: pip install 'cmltui[demo]' "
        "(cannot import cryptography.x509)"
    )
    log_text = log_file(tmp_path).read_text(encoding="utf-8")
    assert "Traceback" in log_text and "cryptography.x509" in log_text


def test_an_unexpected_error_in_a_command_is_one_line_and_its_traceback_is_logged(tmp_path):
    setup = (
        "from cmltui.cli import commands\n"
        "async def exploding(controller, args):\n"
        "    raise RuntimeError('exploded while listing')\n"
        "commands.HEADLESS['list'] = exploding"
    )
    result = _run(tmp_path, setup, "--config", str(offline_config(tmp_path)), "list")
    log = log_file(tmp_path)
    _assert_one_line(
        result,
        1,
        f"cmltui: unexpected error: RuntimeError: exploded while listing (details in {log})",
    )
    log_text = log.read_text(encoding="utf-8")
    assert "Traceback" in log_text and "in exploding" in log_text


def test_an_error_in_the_dashboards_startup_is_one_line_and_its_traceback_is_logged(tmp_path):
    # Textual itself prints an uncaught error's traceback, with every frame's locals. The main
    # screen's failing compose is followed by errors of its own mount (no widgets): the line
    # names the first, the cause.
    setup = (
        "from cmltui.ui.screens.main import MainScreen\n"
        "def exploding_compose(self):\n"
        "    raise RuntimeError('exploded while composing')\n"
        "MainScreen.compose = exploding_compose"
    )
    result = _run(tmp_path, setup, "--config", str(offline_config(tmp_path)))
    log = log_file(tmp_path)
    _assert_one_line(
        result,
        1,
        f"cmltui: unexpected error: RuntimeError: exploded while composing (details in {log})",
    )
    log_text = log.read_text(encoding="utf-8")
    assert "Traceback" in log_text and "in exploding_compose" in log_text


def test_a_required_package_that_is_missing_says_the_installation_is_incomplete(tmp_path):
    result = _run(tmp_path, _blocked("pydantic"), "--config", str(offline_config(tmp_path)), "list")
    _assert_one_line(
        result,
        1,
        "cmltui: the installation is incomplete: import of pydantic halted; None in "
        "sys.modules; reinstall it (pip install --force-reinstall cmltui)",
    )


def test_an_error_while_the_entry_point_loads_is_one_line_and_logged(tmp_path):
    # Before cmltui's own error handling is loaded at all.
    result = _run(tmp_path, _blocked("cmltui.cli.output"), "--version")
    log = log_file(tmp_path)
    _assert_one_line(
        result,
        1,
        "cmltui: cannot start: ModuleNotFoundError: import of cmltui.cli.output halted; None "
        f"in sys.modules; reinstall it (pip install --force-reinstall cmltui) (details in {log})",
    )
    assert "Traceback" in log.read_text(encoding="utf-8")
