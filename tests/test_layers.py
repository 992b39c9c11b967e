"""Layer rules, checked on the source with ``ast``: who may import textual, boto3, httpx, tinydb."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cmltui"


def imported_modules(source: str) -> set[str]:
    """Top-level names of every absolute import in ``source``, lazy ones inside functions too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def modules_under(folder: Path) -> dict[Path, set[str]]:
    return {
        path.relative_to(PACKAGE.parent): imported_modules(path.read_text("utf-8"))
        for path in sorted(folder.rglob("*.py"))
    }


def violations(folder: Path, forbidden: set[str], *, exclude: Path | None = None) -> list[str]:
    return [
        f"{path} imports {', '.join(sorted(imports & forbidden))}"
        for path, imports in modules_under(folder).items()
        if imports & forbidden and not (exclude and (PACKAGE.parent / path).is_relative_to(exclude))
    ]


def test_the_checker_sees_every_form_of_import():
    source = (
        "import textual.app\nfrom boto3 import client\nimport os, httpx as h\n"
        "def lazy():\n    from tinydb import TinyDB\nfrom . import sibling\n"
    )
    assert imported_modules(source) == {"textual", "boto3", "os", "httpx", "tinydb"}


def test_the_package_has_the_layers_checked_here():
    for layer in ("domain", "services", "ui", "store", "aws", "cml"):
        assert (PACKAGE / layer).is_dir(), layer
    assert modules_under(PACKAGE / "domain"), "no domain module found"


def test_only_the_ui_imports_textual():
    assert violations(PACKAGE, {"textual"}, exclude=PACKAGE / "ui") == []


def test_the_domain_is_pure():
    assert violations(PACKAGE / "domain", {"boto3", "botocore", "httpx", "tinydb", "textual"}) == []


def test_services_use_adapters_not_libraries():
    assert violations(PACKAGE / "services", {"textual", "boto3", "httpx", "tinydb"}) == []


@pytest.mark.parametrize("layer", ["domain", "services", "store", "aws", "cml"])
def test_no_layer_below_the_ui_imports_the_ui(layer):
    offenders = [
        f"{path} imports cmltui.ui"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.ImportFrom | ast.Import)
        and any(
            name == "cmltui.ui" or name.startswith("cmltui.ui.")
            for name in (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [alias.name for alias in node.names]
            )
        )
    ]
    assert offenders == []
