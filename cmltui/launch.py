"""Runs the Textual dashboard on a real runtime (store, AWS gateway, CML pool, controller).

The engine (the controller with its loops, boto3 threads, httpx clients and store writes) runs
on its own thread's event loop (``EngineThread``); the app gets an ``EngineService`` and its
loop does UI work only.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from cmltui.config import Config
from cmltui.domain.clock import Clock, utc_now

#: How long closing the runtime (controller, clients, data file) may take after the app.
ENGINE_CLOSE_SECONDS = 10.0


def run_dashboard(
    config: Config,
    *,
    read_only: bool = False,
    clock: Clock = utc_now,
    notices: list[str] | None = None,
    demo_licence_token: str | None = None,
    config_path: Path | None = None,
) -> int:
    """Open the dashboard; returns the process exit code once the operator quits.

    ``notices`` (e.g. configuration warnings) are shown in the dashboard, where the operator
    looks, besides the store's own. A configuration or data folder error raises before the
    dashboard takes the terminal. ``demo_licence_token`` (``--demo``): the licence dialog
    names the token the demo's CML accepts. ``config_path``: the file a theme chosen in the
    palette is written back to (None: not kept).
    """
    import threading

    from cmltui.memory import limit_malloc_arenas, start_trimming
    from cmltui.services.engine_service import EngineService
    from cmltui.services.engine_thread import EngineThread
    from cmltui.ui.app import CmlTuiApp
    from cmltui.wiring import build_runtime, setup_logging

    try:
        log_path = setup_logging(log_config=config.log)
    except OSError:
        log_path = None  # the app says it cannot write the log, on screen
    limit_malloc_arenas()  # before the engine's and boto3's threads start
    trim_stop = threading.Event()
    start_trimming(trim_stop)
    runtime = build_runtime(config, read_only=read_only, clock=clock)
    profile_label = config.aws.profile or "default credentials"
    engine = EngineThread().start()
    service = EngineService(engine, runtime.controller, clock=clock)
    app = CmlTuiApp(
        service,
        config=config,
        aws_profile_label=profile_label,
        read_only=runtime.controller.read_only,
        read_only_reason=runtime.controller.read_only_reason,
        demo_licence_token=demo_licence_token,
        clock=clock,
        log_path=log_path,
        notices=[*(notices or []), *runtime.notices],
        config_path=config_path,
    )
    try:
        app.run()
    finally:
        # The app stops the controller's loops on unmount; this closes what is left (lock too),
        # on the engine's loop, then ends the engine thread.
        closed = False
        with contextlib.suppress(Exception):
            engine.run_blocking(runtime.aclose(), timeout=ENGINE_CLOSE_SECONDS)
            closed = True
        ended = engine.stop()
        if not closed and ended:  # the engine died first: close from here, nothing else runs
            with contextlib.suppress(Exception):
                asyncio.run(runtime.aclose())
        trim_stop.set()
    return app.return_code or 0
