"""Optional packages: which extra of pyproject.toml provides them, and the one line that says so.

``pip install cmltui`` leaves out the demo's packages (moto's server, cryptography, PyYAML), so a
command that needs them checks first (``require_extra``) and a missing one is a usage error with
the install command, never an import traceback; ``extra_for`` names the extra of a module an
``ImportError`` reports, for the errors that get past that check.
"""

from __future__ import annotations

import importlib.util

from cmltui.cli.output import EXIT_USAGE, CliError

#: Each extra's distributions (as pyproject.toml spells them, without versions or extras) and
#: the top-level modules each provides that cmltui imports; moto[server] brings flask,
#: flask_cors and werkzeug. A test checks the distributions against pyproject.toml.
EXTRA_PACKAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "demo": {
        "moto": ("moto", "flask", "flask_cors", "werkzeug"),
        "cryptography": ("cryptography",),
        "pyyaml": ("yaml",),
    },
}


class MissingExtra(CliError):
    """A command needs an extra whose packages are not installed (exit 2, a usage error)."""

    def __init__(self, extra: str, missing: list[str], doing: str) -> None:
        self.extra = extra
        self.missing = missing
        super().__init__(
            f"{doing} needs the '{extra}' extra: pip install 'cmltui[{extra}]' "
            f"(not installed: {', '.join(missing)})",
            EXIT_USAGE,
        )


def missing_packages(extra: str) -> list[str]:
    """The distributions of ``extra`` with a module that cannot be found (none: all there)."""
    return [
        distribution
        for distribution, modules in EXTRA_PACKAGES[extra].items()
        if not all(_findable(module) for module in modules)
    ]


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken package or a None in sys.modules
        return False


def require_extra(extra: str, *, doing: str) -> None:
    """Raise ``MissingExtra`` (one line, exit 2) unless every package of ``extra`` is there."""
    missing = missing_packages(extra)
    if missing:
        raise MissingExtra(extra, missing, doing)


def extra_for(error: ImportError) -> str | None:
    """The extra that provides the module ``error`` could not import, if it is optional."""
    top_level = (error.name or "").partition(".")[0]
    for extra, packages in EXTRA_PACKAGES.items():
        if any(top_level in modules for modules in packages.values()):
            return extra
    return None
