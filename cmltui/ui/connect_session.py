"""The connect key's terminal hand-over: suspend the dashboard, run the command, take it back.

The command runs in a worker thread (``run_connect``), so the event loop, and the refreshes it
drives, go on meanwhile. Nothing is painted while the command owns the terminal: a suspended
driver has no writer, and Textual's writes would pile up in its queue (then block the loop), so
the whole run is one batch; the screen is repainted in full once the dashboard is back.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import App, SuspendNotSupported

from cmltui.services.connect import ConnectOutcome, run_connect


async def connect_in_terminal(
    app: App[object], argv: Sequence[str], banner: str | None = None
) -> ConnectOutcome | None:
    """Run ``argv`` on the app's terminal, ``banner`` first; None when the app has no terminal
    to lend (headless tests, a web driver)."""
    if app.is_headless:
        return None
    try:
        with app.batch_update(), app.suspend():
            outcome = await run_connect(argv, banner)
    except SuspendNotSupported:
        return None
    app.screen.refresh(layout=True)
    return outcome
