"""``python -m cmltui`` and the ``cmltui`` command: see ``cmltui.cli``.

Exit codes: 0 everything asked succeeded, 1 an operation failed, 2 bad usage or configuration,
130 interrupted.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from cmltui.cli.main import main as run
    except KeyboardInterrupt:  # Ctrl-C while the modules load: quiet, like any other time
        return 130
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
