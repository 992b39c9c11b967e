"""Layer rules: the import-linter contracts in pyproject.toml hold, and each of them can fail.

scripts/test runs ``lint-imports`` before pytest; the first test here runs it too, so that
``pytest`` alone checks the layers. The second copies the package to a temporary folder, adds
one bad import per contract (direct, lazy inside a function, under TYPE_CHECKING) and expects
every contract to be reported broken by its own probe: a contract that cannot fail, or a new
contract without a probe, fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# A new module per probe (so that it exists only in the copy) and the contract it must break.
PROBES: dict[str, tuple[str, str]] = {
    "The domain is pure": ("domain/probe_bad.py", "from cmltui.aws import dto\n"),
    "The adapters (aws, cml, store) never import the services or the UI": (
        "aws/probe_bad.py",
        "def lazy():\n    import cmltui.services.projection\n",
    ),
    "The UI never imports an adapter": ("ui/probe_bad.py", "from cmltui.store import merge\n"),
    "The services never import the UI": (
        "services/probe_bad.py",
        "import typing\nif typing.TYPE_CHECKING:\n    from cmltui.ui import formatting\n",
    ),
    "The services use the adapters, not their libraries": (
        "services/probe_bad_lib.py",
        "import httpx\n",
    ),
    "Only the UI and the composition roots import textual": (
        "store/probe_bad.py",
        "import textual.widget\n",
    ),
    "config and logfile are leaves": ("logfile_probe_bad.py", "import cmltui.domain.names\n"),
    "No layer imports a composition root": (
        "cml/probe_bad.py",
        "def lazy():\n    from cmltui.launch import run\n",
    ),
}


def contract_names() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return [contract["name"] for contract in config["tool"]["importlinter"]["contracts"]]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(  # lint-imports puts its working folder first on sys.path
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contract_names())} kept, 0 broken." in result.stdout


def test_each_contract_catches_a_bad_import(tmp_path):
    names = contract_names()
    probe_of = {name: next((k for k in PROBES if name.startswith(k)), None) for name in names}
    assert [n for n, probe in probe_of.items() if probe is None] == [], "contract without a probe"
    assert len(set(probe_of.values())) == len(names), "two contracts share a probe"

    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "cmltui", tmp_path / "cmltui", ignore=shutil.ignore_patterns("__pycache__")
    )
    for relative, source in PROBES.values():
        (tmp_path / "cmltui" / relative).write_text(source, "utf-8")
    # The leaf rule is about cmltui.logfile itself: the probe module is imported from it.
    with (tmp_path / "cmltui" / "logfile.py").open("a", encoding="utf-8") as logfile:
        logfile.write("\nfrom cmltui import logfile_probe_bad  # noqa: E402\n")

    result = lint_imports(tmp_path)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"Contracts: 0 kept, {len(names)} broken." in out, out
    headers = [out.find(f"\n{name}\n{'-' * len(name)}\n") for name in names]
    assert -1 not in headers, out
    ends = [*sorted(headers)[1:], len(out)]
    for name, start in zip(names, headers, strict=True):
        section = out[start : min(end for end in ends if end > start)]
        module = "cmltui." + PROBES[probe_of[name]][0].removesuffix(".py").replace("/", ".")
        assert module in section, (name, module, section)
