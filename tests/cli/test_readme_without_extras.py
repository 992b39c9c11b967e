"""Every command of the README, run by ``cmltui`` as ``pip install .`` installs it: without extras.

The commands are read from the README's ``bash`` blocks (alternatives ``a|b`` expanded, optional
``[...]`` parts left out, placeholders such as ``NAME`` filled in), so a command added there is
tried here too. Those that need the demo extra must say so in one line (exit 2); the others
must run or fail with their own message. None may print a traceback.

The clean virtual environment is built once per test session (one build shared by the xdist
workers, under a lock); pip takes the dependencies from its cache after the first time.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.helpers import offline_config

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

#: What each README placeholder becomes: names of workers and labs nothing has.
PLACEHOLDERS = {
    "NAME": "ghost",
    "NAME_OR_ID": "ghost",
    "WORKER": "ghost",
    "LAB": "lab-1",
    "REGION": "us-east-1",
    "TYPE": "t3.large",
    "FILE": "no-such-lab.yaml",
    "T": "a title",
}

DEMO_EXTRA_LINE = (
    "cmltui: {doing} needs the 'demo' extra: pip install 'cmltui[demo]' "
    "(not installed: moto, cryptography, pyyaml)"
)


@dataclass(frozen=True)
class ReadmeCommand:
    """One runnable form of a README line: its arguments after ``cmltui`` and its variables."""

    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    @property
    def needs_demo(self) -> bool:
        return "--demo" in self.args or self.args[:1] == ("demo-servers",)

    def __str__(self) -> str:
        return " ".join(["cmltui", *self.args]) or "cmltui"


def _forms(line: str) -> list[ReadmeCommand]:
    """The commands one README line stands for (``start|stop`` gives two)."""
    words = shlex.split(re.sub(r"\s*\[[^\]]*\]", "", line.split(" #")[0]))
    env: list[tuple[str, str]] = []
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env.append((name, "not-a-token" if value == "..." else value))
    if not words or words[0] != "cmltui":
        return []
    choices: list[list[str]] = []
    for word in words[1:]:
        word = word.removesuffix("...")
        if re.fullmatch(r"[A-Z][A-Z_]*", word):
            assert word in PLACEHOLDERS, f"README placeholder {word}: add it to PLACEHOLDERS"
            choices.append([PLACEHOLDERS[word]])
        elif "|" in word and not word.startswith("-"):
            choices.append(word.split("|"))
        else:
            choices.append([word])
    return [ReadmeCommand(tuple(args), tuple(env)) for args in itertools.product(*choices)]


def readme_commands() -> list[ReadmeCommand]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    commands = [form for block in blocks for line in block.splitlines() for form in _forms(line)]
    # Not in a block, but what a new user types first.
    return [ReadmeCommand(("--version",)), ReadmeCommand(("--help",)), *commands]


def test_the_readme_commands_are_found():
    found = {str(command) for command in readme_commands()}
    # One of each kind: plain, with a variable, alternatives expanded, the demo's two doors.
    assert {
        "cmltui",
        "cmltui --demo",
        "cmltui demo-servers",
        "cmltui list",
        "cmltui lab wipe ghost lab-1",
        "cmltui auto-stop off ghost",
        "cmltui license register ghost",
    } <= found
    assert len(found) >= 20


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_venv(folder: Path) -> None:
    source = folder / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "cmltui", source / "cmltui", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )


@pytest.fixture(scope="session")
def cmltui_without_extras(tmp_path_factory, worker_id) -> Path:
    """The ``cmltui`` of a clean venv where ``pip install .`` put it (no extras)."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # the xdist workers' folders share a parent
        shared = shared.parent
    folder = shared / "no-extras"
    with _locked(shared / "no-extras.lock"):
        if not (folder / "ready").exists():
            shutil.rmtree(folder, ignore_errors=True)
            _build_venv(folder)
            (folder / "ready").touch()
    python = folder / "venv" / "bin" / "python"
    has_demo = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('moto') is not None)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert has_demo.stdout.strip() == "False"  # really without the demo extra
    return folder / "venv" / "bin" / "cmltui"


def _environment(tmp_path: Path) -> dict[str, str]:
    """Nothing of the caller's Python, every cmltui folder in ``tmp_path``, no way to AWS."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "AWS_", "CMLTUI_"))
    }
    env.update(
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data-home"),
        CMLTUI_CONFIG=str(offline_config(tmp_path)),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.mark.parametrize("command", readme_commands(), ids=str)
def test_a_readme_command_without_extras(tmp_path, cmltui_without_extras, command):
    result = subprocess.run(
        [cmltui_without_extras, *command.args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_environment(tmp_path), **dict(command.env)},
        cwd=tmp_path,
        check=False,
        stdin=subprocess.DEVNULL,  # the dashboard quits at once: stdin is not a terminal
    )
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything
    assert "unexpected error" not in everything
    if command.needs_demo:
        doing = "demo-servers" if command.args[0] == "demo-servers" else "--demo"
        assert result.returncode == 2
        assert result.stderr.splitlines() == [DEMO_EXTRA_LINE.format(doing=doing)]
        assert result.stdout == ""
    else:
        assert "cmltui[demo]" not in everything
        assert result.returncode in (0, 1, 2), everything
        if command.args in {("--version",), ("--help",)}:
            assert result.returncode == 0 and result.stdout.startswith(("cmltui", "usage"))
