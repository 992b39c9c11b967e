"""The fleet view's ways out to a worker: copy its endpoint (c) and connect to it (C).

Mixed into ``MainScreen``. Both are allowed in read-only mode: they change nothing in the fleet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cmltui.services.connect import ConnectPlan, plan_connect
from cmltui.services.snapshot import WorkerSnapshot
from cmltui.ui.connect_session import connect_in_terminal
from cmltui.ui.formatting import shown
from cmltui.ui.screens.guards import guarded

if TYPE_CHECKING:
    from textual.app import App

    from cmltui.ui.app import CmlTuiApp


class ConnectActions:
    """``action_copy_endpoint`` and ``action_connect`` of the action registry."""

    #: The connect command owns the terminal: a second one waits for it to end.
    connecting: bool = False

    if TYPE_CHECKING:
        # What MainScreen provides.
        @property
        def fleet_app(self) -> CmlTuiApp: ...

        app: App[Any]

        notify: Callable[..., None]
        run_worker: Callable[..., Any]

        def _selected(self) -> WorkerSnapshot | None: ...
        def _nothing_selected(self) -> None: ...

    @guarded
    def action_copy_endpoint(self) -> None:
        worker = self._selected()
        if worker is None:
            return self._nothing_selected()
        refusal = worker.connect_refusal  # the seed's can_connect, with its reason
        if refusal is not None or not worker.https_endpoint:
            self.notify(
                f"Nothing copied: {shown(worker.name)} is not ready for connections ({refusal}).",
                severity="warning",
                markup=False,
            )
            return
        # OSC 52: reaches the operator's own clipboard through SSH (tmux: set-clipboard on).
        self.app.copy_to_clipboard(worker.https_endpoint)
        self.notify(f"Copied {shown(worker.https_endpoint)}", markup=False)

    @guarded
    def action_connect(self) -> None:
        """The [connect] command for the selected worker, on this terminal (read-only too: it
        changes nothing in the fleet)."""
        worker = self._selected()
        if worker is None:
            return self._nothing_selected()
        if self.connecting:
            self.notify("A connect command is still running.", severity="warning")
            return
        plan = plan_connect(worker, self.fleet_app.config)
        if plan.refusal is not None:
            self.notify(
                f"Cannot connect to {shown(worker.name)}: {plan.refusal}.",
                severity="warning",
                markup=False,
            )
            return
        self.connecting = True
        self.run_worker(self._connect(plan), group="connect", exit_on_error=False)

    async def _connect(self, plan: ConnectPlan) -> None:
        try:
            outcome = await connect_in_terminal(self.app, plan.argv, plan.banner())
        except Exception as err:
            self.fleet_app.log_unexpected(err, doing="connect")
            return
        finally:
            self.connecting = False
        if outcome is None:
            self.notify(
                "This dashboard has no terminal to hand over: use cmltui connect "
                f"{shown(plan.worker_name)}.",
                severity="warning",
                markup=False,
            )
            return
        self.notify(
            f"{shown(plan.worker_name)}: {outcome.summary()}",
            severity="information" if outcome.ok else "warning",
            markup=False,
            timeout=6 if outcome.ok else 12,
        )
