"""Connect to a worker: its ``[connect] command`` filled in, or why it cannot be, and the run.

The command is an argument list. Each argument's ``{placeholders}`` are replaced by the worker's
values and the result stays that one argument: a name or an address holding spaces, quotes or
``;`` reaches the program as written, never through a shell. A worker is refused when the
domain's rule refuses it (``connect_refusal``) or when a value the command uses is missing (no
public IP, no key file).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shlex
import signal
import string
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cmltui.config import Config
from cmltui.config.connect import CONNECT_PLACEHOLDERS
from cmltui.domain.names import visible
from cmltui.services.snapshot import WorkerSnapshot

#: Exit status of a command cut short by a signal, as shells report it: 128 + the signal.
_SIGNAL_EXIT_BASE = 128


def fill_argument(argument: str, values: Mapping[str, str]) -> str:
    """One argument with its placeholders replaced (``{{``/``}}`` are literal braces).

    The names were checked when the config was loaded; a value is inserted as text, never
    formatted again, so braces or ``%`` in it stay what they are.
    """
    parts: list[str] = []
    for literal, field, _, _ in string.Formatter().parse(argument):
        parts.append(literal)
        if field is not None:
            parts.append(values[field])
    return "".join(parts)


def fill_command(command: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The argument list with every argument filled in; one argument in, one argument out."""
    return [fill_argument(argument, values) for argument in command]


def used_placeholders(command: Sequence[str]) -> set[str]:
    return {
        field
        for argument in command
        for _, field, _, _ in string.Formatter().parse(argument)
        if field is not None
    }


@dataclass(frozen=True, slots=True)
class ConnectPlan:
    """The command to run for one worker, or why there is none."""

    worker_name: str
    argv: tuple[str, ...] = ()
    refusal: str | None = None

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ""

    def shown_command(self) -> str:
        """The command as a person would type it (quoted), with unsafe characters escaped."""
        return visible(shlex.join(self.argv))

    def banner(self) -> str:
        """What the terminal shows before the command's own output."""
        return (
            f"cmltui: connecting to {visible(self.worker_name)}: {self.shown_command()}\n"
            "(the dashboard comes back when this command ends; Ctrl-C is the command's)"
        )


def _address(text: str | None) -> str | None:
    """An IP address as EC2 gave it; None when absent or not shaped like one."""
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _missing_value(
    placeholder: str, worker: WorkerSnapshot, config: Config, file_exists: Callable[[str], bool]
) -> str | None:
    """Why ``placeholder`` has no value for ``worker``, in words following "cannot connect"."""
    connect = config.connect
    public, private = _address(worker.public_ip), _address(worker.private_ip)
    if placeholder == "instance_id" and not worker.aws_instance_id:
        return "it has no EC2 instance"
    if placeholder == "public_ip" and public is None:
        return "it has no public IP"
    if placeholder == "private_ip" and private is None:
        return "it has no private IP"
    if placeholder == "host":
        if public is None and private is None:
            return "it has no IP address"
        if connect.prefer_private_ip and private is None:
            return "it has no private IP (prefer_private_ip = true in [connect])"
        if not connect.prefer_private_ip and public is None:
            return (
                f"it has no public IP (its private IP {private} is used with "
                "prefer_private_ip = true in [connect])"
            )
    if placeholder == "endpoint" and not worker.https_endpoint:
        return "it has no endpoint yet"
    if placeholder == "key_file":
        if not connect.key_file:
            return "the command uses {key_file} and [connect] key_file is not set"
        path = str(Path(connect.key_file).expanduser())
        if not file_exists(path):
            return f"the key file {path} does not exist ([connect] key_file)"
    return None


def connect_values(worker: WorkerSnapshot, config: Config) -> dict[str, str]:
    """Every placeholder's value for ``worker`` ("" where it has none)."""
    connect = config.connect
    public, private = _address(worker.public_ip), _address(worker.private_ip)
    values = {
        "instance_id": worker.aws_instance_id or "",
        "region": worker.region,
        "host": (private if connect.prefer_private_ip else public) or "",
        "public_ip": public or "",
        "private_ip": private or "",
        "username": config.cml_worker_username,
        "key_file": str(Path(connect.key_file).expanduser()) if connect.key_file else "",
        "name": worker.name,
        "endpoint": worker.https_endpoint or "",
    }
    return values


def plan_connect(
    worker: WorkerSnapshot,
    config: Config,
    *,
    file_exists: Callable[[str], bool] = os.path.isfile,
) -> ConnectPlan:
    """The filled-in command for ``worker``, or the first reason it cannot be connected to."""
    refusal = worker.connect_refusal  # the seed's rule: running, CML available, an endpoint
    if refusal is None:
        command = config.connect.command
        for placeholder in CONNECT_PLACEHOLDERS:  # a fixed order: the same reason every time
            if placeholder in used_placeholders(command):
                refusal = _missing_value(placeholder, worker, config, file_exists)
                if refusal is not None:
                    break
    if refusal is not None:
        return ConnectPlan(worker.name, refusal=refusal)
    argv = fill_command(config.connect.command, connect_values(worker, config))
    return ConnectPlan(worker.name, argv=tuple(argv))


@dataclass(frozen=True, slots=True)
class ConnectOutcome:
    """How the command ended: its exit status, or why it could not be started."""

    program: str
    exit_status: int | None = None
    #: The command did not start (no such program, not executable).
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_status == 0

    def summary(self) -> str:
        """``ssh exited with 255``, ``ssh was ended by SIGTERM``, or why it did not run."""
        if self.error is not None:
            return self.error
        status = self.exit_status
        if status is not None and status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = f"signal {-status}"
            return f"{self.program} was ended by {name}"
        return f"{self.program} exited with {status}"

    @property
    def exit_code(self) -> int:
        """For ``cmltui connect``: the command's own status (128 + signal when killed); 2 when
        it could not be started (the configured program is the problem)."""
        if self.error is not None or self.exit_status is None:
            return 2
        if self.exit_status < 0:
            return _SIGNAL_EXIT_BASE - self.exit_status
        return self.exit_status


def run_connect_blocking(argv: Sequence[str], banner: str | None = None) -> ConnectOutcome:
    """Run the command on this process's terminal and wait for it (call from a worker thread).

    No shell: ``argv`` is exec'd as it is. The command inherits stdin, stdout and stderr.
    ``banner`` is written to the terminal first: ssh says nothing while it connects, and an
    operator facing a blank screen cannot tell a slow host from a hang.
    """
    if banner:
        terminal = sys.__stderr__
        if terminal is not None:
            with contextlib.suppress(OSError, ValueError):
                terminal.write(banner + "\n")
                terminal.flush()
    program = os.path.basename(argv[0])
    shown_program = visible(argv[0])
    fix = "install it or change [connect] command"
    try:
        # The program and the argument list are the operator's own [connect] command; remote
        # values fill whole arguments only, and no shell reads them.
        completed = subprocess.run(list(argv), check=False)  # noqa: S603
    except FileNotFoundError:
        return ConnectOutcome(program, error=f"cannot run {shown_program}: no such program ({fix})")
    except PermissionError:
        return ConnectOutcome(
            program, error=f"cannot run {shown_program}: permission denied ({fix})"
        )
    except OSError as err:
        return ConnectOutcome(
            program, error=f"cannot run {shown_program}: {err.strerror or err} ({fix})"
        )
    return ConnectOutcome(program, exit_status=completed.returncode)


@contextlib.contextmanager
def keys_to_the_command() -> Iterator[None]:
    """While the command runs, Ctrl-C and Ctrl-\\ on the terminal are the command's: this
    process ignores them with a Python handler (not SIG_IGN, which the child would inherit:
    it starts with the default action). Afterwards Python's default handling is back."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGQUIT):
        try:
            loop.add_signal_handler(signum, lambda: None)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)


async def run_connect(argv: Sequence[str], banner: str | None = None) -> ConnectOutcome:
    """Run the command in a worker thread (the event loop goes on) and return how it ended."""
    with keys_to_the_command():
        return await asyncio.to_thread(run_connect_blocking, argv, banner)
