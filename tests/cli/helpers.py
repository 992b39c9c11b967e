"""Running the real ``cmltui`` command in a child process, with its log in the test's folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cmltui.demo.fleet import write_toml
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.store import open_store
from tests.fixtures.workers import make_worker

#: An AWS endpoint where nothing listens: commands that do not need AWS never notice it.
DEAD_ENDPOINT = "http://127.0.0.1:9"


def cmltui_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment with the log (XDG state folder) inside ``tmp_path``."""
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), **(extra or {})}


def log_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "cmltui" / "log" / "cmltui.log"


def run_cmltui(
    tmp_path: Path,
    *args: str,
    config: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cmltui"]
    if config is not None:
        command += ["--config", str(config)]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cmltui_env(tmp_path, env),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def write_config(path: Path, document: dict[str, Any]) -> Path:
    write_toml(path, document)
    return path


def offline_config(tmp_path: Path, name: str = "config.toml", **extra: Any) -> Path:
    """A config whose data folder is in ``tmp_path`` and whose AWS endpoint is dead."""
    document: dict[str, Any] = {
        "regions": ["us-east-1"],
        "data_dir": str(tmp_path / "data"),
        "aws": {"endpoint_url": DEAD_ENDPOINT, "total_max_attempts": 1},
    }
    document.update(extra)
    return write_config(tmp_path / name, document)


def seed_store(
    data_dir: Path,
    names: Iterable[str | tuple[str, CMLWorkerStatus]],
    *,
    clock: FrozenClock | None = None,
) -> dict[str, str]:
    """Store one worker per name (ids ``w0``, ``w1``..., running unless a status is given with
    the name); returns ``{id: name}``."""
    clock = clock or FrozenClock()
    workers = []
    for index, entry in enumerate(names):
        name, status = (entry, CMLWorkerStatus.RUNNING) if isinstance(entry, str) else entry
        workers.append(
            make_worker(clock, f"w{index}", name=name, status=status, instance_id=f"i-{index:017x}")
        )
    store = open_store(data_dir, clock=clock)
    try:
        store.save_many(workers)
    finally:
        store.close()
    return {w.id: w.name for w in workers}


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i path`` for the block (root cannot write there either); skips the test when
    the file system or the user cannot set the flag."""
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed: cannot make a folder immutable")
    made = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is refused here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)
