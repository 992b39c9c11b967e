"""The entry point: parse, set up the log, load the config, run a command; map errors to exit codes.

Nothing here ever prints a traceback on the terminal: an unexpected error is one line on stderr
(``unexpected error: <kind>: <message> (details in <log>)``) and its traceback goes to the log
file only. That holds before logging is set up too (the hooks installed first drop tracebacks
rather than print them), in other threads, and for errors Python reports as "ignored".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from cmltui.cli.output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    err,
    flush_streams,
    output_failure,
    prepare_streams,
    shown,
    silence_stdout,
)

log = logging.getLogger("cmltui.cli")

#: Where tracebacks go; None while (or when) no log file could be opened.
_log_path: Path | None = None
_log_unavailable = False
#: The command being run, for the log's last line ("stop: exit code 0").
_command: str | None = None


def _log_traceback(message: str, exc_info) -> None:
    """The traceback to the log file only (never to the terminal, even with no handler)."""
    if _log_path is not None:
        log.error(message, exc_info=exc_info)


def _install_hooks() -> None:
    """Uncaught errors anywhere in the process: one line on stderr, the traceback to the log."""

    def excepthook(kind, value, trace) -> None:
        if issubclass(kind, KeyboardInterrupt):
            err("cmltui: interrupted")
            return
        _log_traceback("uncaught error", (kind, value, trace))
        err(f"cmltui: unexpected error: {kind.__name__}: {shown(value)}{_where()}")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread else "a thread"
        _log_traceback(
            f"uncaught error in {name}", (args.exc_type, args.exc_value, args.exc_traceback)
        )
        err(
            f"cmltui: unexpected error in {name}: {args.exc_type.__name__}: "
            f"{shown(args.exc_value)}{_where()}"
        )

    def unraisable_hook(unraisable) -> None:
        # "Exception ignored in ...": worth a log line, never a terminal traceback.
        if _log_path is not None:
            log.warning(
                "ignored error in %r: %s",
                unraisable.object,
                unraisable.exc_value,
                exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback),
            )

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook
    # With no handler at all, logging's "last resort" prints records (tracebacks included)
    # on stderr: never let it.
    logging.lastResort = logging.NullHandler()


def _where() -> str:
    return f" (details in {_log_path})" if _log_path is not None else ""


def _start_logging(log_config=None) -> None:
    """Open the log file (rotated); when it cannot be opened, say so once and go on without."""
    global _log_path, _log_unavailable
    if _log_unavailable:
        return
    from cmltui.wiring import setup_logging

    try:
        _log_path = setup_logging(log_config=log_config)
    except OSError as error:
        _log_unavailable = True
        from cmltui.config import default_log_dir

        err(
            f"warning: cannot write the log file in {default_log_dir()}: "
            f"{error.strerror or error}; going on without a log"
        )


def _load_config(args: argparse.Namespace):
    from cmltui.config import ConfigError, KeymapConfig, UiConfig, load_config

    config, path, warnings = load_config(args.config)
    if config.keymap != KeymapConfig() or config.ui != UiConfig():
        # Checked against the action registry and Textual's themes: imported only when set.
        from cmltui.ui.keymap import check_ui_settings

        try:
            check_ui_settings(config)
        except ValueError as error:
            raise ConfigError(f"{path}: {error}") from None
    _start_logging(config.log)  # the configured size bound from here on
    return config, path, warnings


async def _with_runtime(config, args: argparse.Namespace, body) -> int:
    from cmltui.wiring import build_runtime

    runtime = build_runtime(config, read_only=args.read_only)
    for notice in runtime.notices:
        err(f"notice: {shown(notice)}")
    _exit_on_signals(runtime.controller)
    try:
        await runtime.controller.load()
        code = await body(runtime.controller, args)
    finally:
        try:
            await runtime.aclose()
        except Exception as error:
            from cmltui.store import StoreError

            if not isinstance(error, StoreError):
                raise
            err(f"cmltui: error: {shown(error)}")
            return EXIT_FAILED
    store_errors = [h for h in runtime.controller.current().errors if h.source == "store"]
    if store_errors:  # the outcome was done but not saved: never a silent success
        for health in store_errors:
            err(f"cmltui: error: {shown(health.error)}")
        return max(code, EXIT_FAILED)
    return code


def _exit_on_signals(controller) -> None:
    """Ctrl-C, SIGTERM and SIGHUP (a dropped SSH session) during a command: say what was sent
    and what is unknown, then exit at once with 128 + the signal's number.

    Every action's intent is saved before its call, so nothing more needs writing; a boto3 call
    blocked in a thread is not waited for (that could take a minute).
    """
    loop = asyncio.get_running_loop()

    def interrupted(signum: int) -> None:
        name = signal.Signals(signum).name
        lines = controller.in_flight_report()
        err(f"cmltui: interrupted ({name})")
        for line in lines:
            err(f"  {line}")
        if not lines:
            err("  nothing was waiting for an answer from AWS or CML")
        flush_streams()
        log.info("%s: interrupted by %s; in flight: %s", _command, name, lines)
        os._exit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, interrupted, signum)


def _run_demo_servers(args: argparse.Namespace) -> int:
    from cmltui.demo.fleet import serve_demo_fleet

    if args.dir:
        folder = Path(args.dir).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CliError(f"--dir {folder}: {error.strerror or error}", EXIT_USAGE) from None
        if not folder.is_dir():
            raise CliError(f"--dir {folder}: not a folder", EXIT_USAGE)
    unknown = [region for region in args.regions if region not in _demo_regions()]
    if unknown:
        raise CliError(
            f"--regions: the demo's AWS (moto) has no region {', '.join(unknown)}", EXIT_USAGE
        )
    return serve_demo_fleet(
        workers=args.workers, regions=args.regions, seed=args.seed, folder=args.dir, team=args.team
    )


def _demo_regions() -> set[str]:
    """The regions moto's EC2 serves (a region-shaped name it does not know fails every call)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    return set(ec2_backends[DEFAULT_ACCOUNT_ID].regions)


def _demo_connect(args: argparse.Namespace):
    """``--demo --config FILE``: the demo runs on its own fleet and config, but takes the
    ``[connect]`` section of FILE (to try a connect command on the demo's workers)."""
    if not args.config:
        return None
    from cmltui.config import load_config

    return load_config(args.config)[0].connect


def _run(argv: list[str] | None) -> int:
    from cmltui.cli.parser import build_parser

    global _command
    args = build_parser().parse_args(argv)
    _command = args.command or ("demo dashboard" if args.demo else "dashboard")
    _start_logging()
    if getattr(args, "team", False) and not (args.demo or args.command == "demo-servers"):
        raise CliError("--team goes with --demo (or demo-servers --team)", EXIT_USAGE)
    if args.command == "demo-servers" or args.demo:
        from cmltui.cli.extras import require_extra

        require_extra("demo", doing="demo-servers" if args.command else "--demo")
    if args.command == "demo-servers":
        return _run_demo_servers(args)
    if args.demo:
        from cmltui.demo.fleet import run_demo_dashboard

        return run_demo_dashboard(
            workers=args.demo_workers,
            read_only=args.read_only,
            connect=_demo_connect(args),
            team=args.team,
        )
    config, config_path, warnings = _load_config(args)
    for warning in warnings:
        err(f"warning: {shown(warning)}")
    if args.command is None:
        from cmltui.launch import run_dashboard

        return run_dashboard(
            config, read_only=args.read_only, notices=warnings, config_path=config_path
        )
    if args.command == "store":  # the shared table itself: no fleet, no controller
        from cmltui.cli.store import run_store_command

        return run_store_command(config, args)
    from cmltui.cli.commands import HEADLESS

    return asyncio.run(_with_runtime(config, args, HEADLESS[args.command]))


def main(argv: list[str] | None = None) -> int:
    """Run cmltui; returns the exit code (0 done, 1 an operation failed, 2 bad usage/config)."""
    _install_hooks()
    prepare_streams()
    try:
        code = _run(argv)
    except SystemExit as exit_:  # argparse: --help, --version, usage errors (2)
        code = exit_.code if isinstance(exit_.code, int) else (EXIT_OK if not exit_.code else 2)
        if isinstance(exit_.code, str):
            err(exit_.code)
    except KeyboardInterrupt:
        err("cmltui: interrupted")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout's reader left while argparse or a library wrote to it
        silence_stdout()
        code = EXIT_OK
    except Exception as error:
        code = _describe(error)
    flush_streams()
    if output_failure:  # the output is part of what was asked: never a silent success
        err(f"cmltui: error: {output_failure[0]}")
        flush_streams()
        code = max(code, EXIT_FAILED)
    if _log_path is not None and _command is not None:
        log.info("%s: exit code %d", _command, code)
    return code


def _describe(error: Exception) -> int:
    """The one line for an error that ended the command, and its exit code."""
    if isinstance(error, ImportError):  # first: what follows imports cmltui's own modules
        return _describe_import_error(error)
    from cmltui.config import ConfigError
    from cmltui.store import StoreError, StoreFolderError

    if isinstance(error, ConfigError):
        err(f"cmltui: configuration error: {shown(error)}")
        return EXIT_USAGE
    if isinstance(error, StoreFolderError):
        hint = " (or view it with --read-only)" if Path(str(error.folder)).is_dir() else ""
        err(f"cmltui: {shown(error)}; fix it or set data_dir in the configuration{hint}")
        return EXIT_USAGE
    if isinstance(error, CliError):
        lines = str(error).splitlines() or [""]
        err(f"cmltui: {lines[0]}")
        for line in lines[1:]:
            err(line)
        return error.exit_code
    if isinstance(error, StoreError):
        err(f"cmltui: error: {shown(error)}")
        return EXIT_FAILED
    _log_traceback("unexpected error", (type(error), error, error.__traceback__))
    err(f"cmltui: unexpected error: {type(error).__name__}: {shown(error)}{_where()}")
    return EXIT_FAILED


def _describe_import_error(error: ImportError) -> int:
    """A package that cannot be imported: an optional one names its extra (a usage error, 2),
    a required one says the installation is incomplete (1); the traceback goes to the log."""
    from cmltui.cli.extras import extra_for

    _log_traceback("cannot import a package", (type(error), error, error.__traceback__))
    extra = extra_for(error)
    if extra is not None:
        err(
            f"cmltui: {_command or 'this command'} needs the '{extra}' extra: "
            f"pip install 'cmltui[{extra}]' (cannot import {shown(error.name)})"
        )
        return EXIT_USAGE
    err(
        f"cmltui: the installation is incomplete: {shown(error)}; reinstall it "
        f"(pip install --force-reinstall cmltui){_where()}"
    )
    return EXIT_FAILED
