"""Runs the Textual dashboard on a real runtime (store, AWS gateway, CML pool, controller)."""

from __future__ import annotations

import asyncio
import contextlib

from cmltui.config import Config
from cmltui.domain.clock import Clock, utc_now


def run_dashboard(
    config: Config,
    *,
    read_only: bool = False,
    clock: Clock = utc_now,
    notices: list[str] | None = None,
) -> int:
    """Open the dashboard; returns the process exit code once the operator quits.

    ``notices`` (e.g. configuration warnings) are shown in the dashboard, where the operator
    looks, besides the store's own. A configuration or data folder error raises before the
    dashboard takes the terminal.
    """
    from cmltui.ui.app import CmlTuiApp
    from cmltui.wiring import build_runtime, setup_logging

    try:
        log_path = setup_logging(log_config=config.log)
    except OSError:
        log_path = None  # the app says it cannot write the log, on screen
    runtime = build_runtime(config, read_only=read_only, clock=clock)
    profile_label = config.aws.profile or "default credentials"
    app = CmlTuiApp(
        runtime.controller,
        config=config,
        aws_profile_label=profile_label,
        read_only=runtime.controller.read_only,
        clock=clock,
        log_path=log_path,
        notices=[*(notices or []), *runtime.notices],
    )
    try:
        app.run()
    finally:
        # The app stops the controller's loops on unmount; this closes what is left (lock too).
        with contextlib.suppress(Exception):
            asyncio.run(runtime.aclose())
    return app.return_code or 0
