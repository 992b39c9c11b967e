"""The optional extras: cmltui's list of what each provides matches pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from cmltui.cli.extras import EXTRA_PACKAGES, extra_for

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
#: Extras for cmltui's developers, not for its commands.
DEVELOPER_EXTRAS = {"test"}


def _distribution(requirement: str) -> str:
    """``moto[server,ec2]>=5.1`` -> ``moto`` (PEP 503 normalized)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group()).lower()


def test_every_user_extra_is_known_with_each_of_its_distributions():
    extras = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    user_extras = {name: reqs for name, reqs in extras.items() if name not in DEVELOPER_EXTRAS}
    assert set(user_extras) == set(EXTRA_PACKAGES)
    for name, requirements in user_extras.items():
        assert {_distribution(r) for r in requirements} == set(EXTRA_PACKAGES[name]), name


def test_an_import_error_names_the_extra_of_an_optional_module_only():
    assert extra_for(ModuleNotFoundError("no cryptography", name="cryptography.x509")) == "demo"
    assert extra_for(ModuleNotFoundError("no yaml", name="yaml")) == "demo"
    assert extra_for(ModuleNotFoundError("no textual", name="textual")) is None
    assert extra_for(ImportError("cannot import name 'x'")) is None
