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
    except Exception as error:  # a broken installation: one line, never a traceback
        where = _log_startup_failure(error)
        print(
            f"cmltui: cannot start: {type(error).__name__}: {error}; reinstall it "
            f"(pip install --force-reinstall cmltui){where}",
            file=sys.stderr,
        )
        return 1
    return run(argv)


def _log_startup_failure(error: Exception) -> str:
    """The traceback to the log file when the modules that write it still import; where it is
    (" (details in PATH)"), or "" when it could not be written."""
    try:
        import logging

        from cmltui.config import default_log_dir
        from cmltui.logfile import private_log_handler

        path = default_log_dir() / "cmltui.log"
        handler = private_log_handler(path)
        try:
            record = logging.LogRecord(
                "cmltui",
                logging.ERROR,
                __file__,
                0,
                "cannot start",
                None,
                (type(error), error, error.__traceback__),
            )
            handler.emit(record)
        finally:
            handler.close()
    except Exception:  # the log is out of reach too: the line on stderr is all there is
        return ""
    return f" (details in {path})"


if __name__ == "__main__":
    sys.exit(main())
