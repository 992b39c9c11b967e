"""Output that cannot be written, readers that leave, terminals that cannot show a character,
and Ctrl-C: real processes, real pipes, real signals; never a traceback on the terminal."""

from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.cli.helpers import cmltui_env, log_file, offline_config, seed_store, write_config

#: Python's own buffering decides when a closed pipe is met: at each write (unbuffered) or
#: when a block is full or at exit (the usual); both must end quietly.
BUFFERING = {"buffered": None, "unbuffered": "1"}


def _shell(tmp_path: Path, script: str, *, unbuffered: str | None = None, **env: str):
    """Run ``script`` in bash with ``$CMLTUI`` set to the cmltui command line."""
    environment = cmltui_env(tmp_path, env)
    environment.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        environment["PYTHONUNBUFFERED"] = unbuffered
    cmltui = shlex.join([sys.executable, "-m", "cmltui", "--config", str(tmp_path / "config.toml")])
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail; CMLTUI={shlex.quote(cmltui)}; {script}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )


@pytest.mark.parametrize("buffering", sorted(BUFFERING))
@pytest.mark.parametrize(
    ("command", "reader"),
    [("list", "head -1"), ("list --json", "head -c 100"), ("events --limit 100000", "head -1")],
)
def test_a_closed_pipe_ends_quietly(tmp_path, command, reader, buffering):
    # Far more than a pipe holds (64 KiB), so cmltui is still writing when the reader leaves.
    seed_store(tmp_path / "data", [f"worker-{n:05d}-{'x' * 40}" for n in range(2500)])
    offline_config(tmp_path)
    result = _shell(tmp_path, f"$CMLTUI {command} | {reader}", unbuffered=BUFFERING[buffering])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout
    log_text = log_file(tmp_path).read_text(encoding="utf-8")
    assert "ERROR" not in log_text and "Traceback" not in log_text
    assert f"{command.split()[0]}: exit code 0" in log_text


def test_help_into_a_closed_pipe_ends_quietly(tmp_path):
    offline_config(tmp_path)
    result = _shell(tmp_path, "$CMLTUI --help | head -1", unbuffered="1")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("usage: cmltui")


@pytest.mark.parametrize(
    ("redirect", "expected"),
    [(">/dev/full", "No space left on device"), (">&-", "stdout is closed")],
)
def test_output_that_cannot_be_written_is_a_failure_in_one_line(tmp_path, redirect, expected):
    seed_store(tmp_path / "data", ["alpha"])
    offline_config(tmp_path)
    result = _shell(tmp_path, f"$CMLTUI list {redirect}")
    assert result.returncode == 1
    assert result.stderr == f"cmltui: error: cannot write the output: {expected}\n"


def test_a_closed_stderr_does_not_stop_a_command(tmp_path):
    seed_store(tmp_path / "data", ["alpha"])
    offline_config(tmp_path)
    # "nobody" is unknown: its error line goes to the closed stderr; the exit code still says so.
    result = _shell(tmp_path, "$CMLTUI auto-stop off nobody 2>&-; echo rc=$?")
    assert result.stdout.strip() == "rc=1"
    listing = _shell(tmp_path, "$CMLTUI list 2>&-")
    assert listing.returncode == 0 and "alpha" in listing.stdout


def test_a_terminal_that_cannot_show_a_name_gets_it_escaped(tmp_path):
    seed_store(tmp_path / "data", ["ｄｕｐ", "café"])
    offline_config(tmp_path)
    result = _shell(tmp_path, "$CMLTUI list", PYTHONIOENCODING="ascii")
    assert result.returncode == 0, result.stderr
    assert "\\uff44\\uff55\\uff50" in result.stdout and "caf\\xe9" in result.stdout


class _Blackhole:
    """A TCP server that accepts connections and never answers; ``connected`` is set on the
    first one, so the test knows the command is inside its AWS call."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self._held.append(connection)
            self.connected.set()

    def close(self) -> None:
        self.server.close()
        for connection in self._held:
            connection.close()


def test_ctrl_c_during_a_command_says_so_and_exits_130(tmp_path):
    hole = _Blackhole()
    try:
        write_config(
            tmp_path / "config.toml",
            {
                "data_dir": str(tmp_path / "data"),
                "aws": {
                    "endpoint_url": f"http://127.0.0.1:{hole.port}",
                    "total_max_attempts": 1,
                    "read_timeout_seconds": 2.0,
                },
            },
        )
        environment = cmltui_env(tmp_path)
        child = subprocess.Popen(
            [sys.executable, "-m", "cmltui", "--config", str(tmp_path / "config.toml"), "refresh"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        try:
            assert hole.connected.wait(120), "cmltui never called AWS"
            child.send_signal(signal.SIGINT)
            stdout, stderr = child.communicate(timeout=120)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    finally:
        hole.close()
    assert child.returncode == 130, (stdout, stderr)
    # Said at once (the blocked AWS call is not waited for), with what was in flight.
    assert stderr.splitlines()[0] == "cmltui: interrupted (SIGINT)", stderr
    assert "nothing was waiting for an answer" in stderr
    assert "Traceback" not in log_file(tmp_path).read_text(encoding="utf-8")
