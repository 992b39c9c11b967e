"""Command line: the dashboard by default, ``--demo``, ``demo-servers`` and headless commands."""

from __future__ import annotations

import argparse
import sys

from cmltui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmltui",
        description="Terminal dashboard for fleets of Cisco Modeling Labs workers on AWS EC2.",
    )
    parser.add_argument("--version", action="version", version=f"cmltui {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (TOML)")
    parser.add_argument("--read-only", action="store_true", help="refuse every mutating action")
    parser.add_argument("--demo", action="store_true", help="open the dashboard on the demo fleet")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
