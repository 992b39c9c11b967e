"""The main view's actions that change workers: start, stop, terminate, auto-stop, licence,
new worker and import.

Targets are captured when the key is pressed: the marked rows, else the selected one. When the
filter hides some marked rows, the action asks first and its dialog lists every target, hidden
ones flagged and counted. Once an action is accepted (sent to the controller) the marks clear,
so the next key never reaches yesterday's selection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.plural import noun_form, plural
from cmltui.domain.worker_policy import PolicyChange
from cmltui.services.snapshot import ActionResult, WorkerSnapshot
from cmltui.ui.screens.busy_confirm import (
    LABS_FIRST,
    BusyStopScreen,
    BusyTerminateScreen,
    can_list_labs,
    labs_first,
)
from cmltui.ui.screens.confirm import ConfirmScreen, Target, TerminateScreen
from cmltui.ui.screens.forms import LicenceScreen, NewWorkerRequest, NewWorkerScreen
from cmltui.ui.screens.guards import mutating
from cmltui.ui.screens.lists import ImportScreen
from cmltui.ui.screens.policy_form import PolicyScreen

if TYPE_CHECKING:
    from cmltui.ui.app import CmlTuiApp
    from cmltui.ui.widgets.worker_table import WorkerTable


def running_labs_question(with_labs: int, targets: int) -> str:
    """What stopping ends: "1 of them has running labs", "It has running labs", or ""."""
    if not with_labs:
        return ""
    if targets == 1:
        return "It has running labs; stopping ends them."
    has = noun_form(with_labs, "has", "have")
    return f"{with_labs} of them {has} running labs; stopping ends those labs."


class WorkerActions:
    """Mixed into ``MainScreen`` (which provides the table, the app and ``marks_changed``)."""

    if TYPE_CHECKING:
        # What MainScreen provides (read-only properties there; its ``app`` is ``fleet_app``).
        @property
        def fleet_app(self) -> CmlTuiApp: ...
        @property
        def table(self) -> WorkerTable: ...

        notify: Callable[..., None]

        def marks_changed(self) -> None: ...

    # -- targets ------------------------------------------------------------------------------

    def _targets(self) -> list[WorkerSnapshot]:
        """The workers an action applies to, captured now (marked rows, else the selected one)."""
        snapshots = self.table.snapshots
        return [
            snapshots[worker_id] for worker_id in self.table.target_ids() if worker_id in snapshots
        ]

    def _listed(self, targets: list[WorkerSnapshot]) -> list[Target]:
        """The targets as a dialog lists them: by name, flagged when the filter hides them."""
        return [Target(t.name, hidden=not self.table.is_shown(t.id)) for t in targets]

    def _any_hidden(self, targets: list[WorkerSnapshot]) -> bool:
        return any(not self.table.is_shown(t.id) for t in targets)

    def _nothing_selected(self) -> None:
        self.notify("No worker selected.", severity="warning")

    def _accepted(self) -> None:
        """The operator said yes: the marks have done their job."""
        if self.table.marked:
            self.table.set_marks([])
            self.marks_changed()

    def _send(self, label: str, call: Callable[[], object]) -> None:
        self._accepted()
        self.fleet_app.run_service_action(label, call)

    def _ask_then(
        self,
        title: str,
        targets: list[WorkerSnapshot],
        confirm_label: str,
        send: Callable[[bool | None], None],
        *,
        question: str = "",
    ) -> None:
        self.fleet_app.push_screen(
            ConfirmScreen(
                title, self._listed(targets), confirm_label=confirm_label, question=question
            ),
            send,
        )

    # -- actions ------------------------------------------------------------------------------

    @mutating
    def action_start(self) -> None:
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]

        def send(confirmed: bool | None = True) -> None:
            if confirmed:
                self._send("start", lambda: self.fleet_app.service.start_workers(worker_ids))

        if self._any_hidden(targets):
            self._ask_then(f"Start {plural(len(targets), 'worker')}?", targets, "Start", send)
        else:
            send()

    @mutating
    def action_retag(self) -> None:
        """Put cmltui's tags back on detached workers' own instances (asked first)."""
        targets = [t for t in self._targets() if t.detached]
        if not targets:
            self.fleet_app.notify(
                "Nothing to re-tag: only a detached worker (⚠ detached) has lost its tags.",
                severity="warning",
            )
            return
        worker_ids = [t.id for t in targets]

        def send(confirmed: bool | None = True) -> None:
            if confirmed:
                self._send("re-tag", lambda: self.fleet_app.service.reattach_workers(worker_ids))

        self._ask_then(
            f"Re-tag {plural(len(targets), 'worker')}?",
            targets,
            "Re-tag",
            send,
            question="Puts cmltui's managed tag and worker id back on each instance below.",
        )

    @mutating
    def action_forget(self) -> None:
        """Remove terminated workers' records (asked first); their events stay in the trail."""
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        kept = [t for t in targets if t.status != CMLWorkerStatus.TERMINATED]
        targets = [t for t in targets if t.status == CMLWorkerStatus.TERMINATED]
        if not targets:
            self.notify(
                "Nothing to forget: only a terminated worker's record can be forgotten "
                "(terminate it first).",
                severity="warning",
            )
            return
        worker_ids = [t.id for t in targets]

        def send(confirmed: bool | None = True) -> None:
            if confirmed:
                self._send("forget", lambda: self.fleet_app.service.forget_workers(worker_ids))

        not_terminated = (
            f" {plural(len(kept), 'worker')} not terminated {noun_form(len(kept), 'is', 'are')}"
            " left alone."
            if kept
            else ""
        )
        self._ask_then(
            f"Forget {plural(len(targets), 'terminated worker')}?",
            targets,
            "Forget",
            send,
            question="Removes each record below from the data file; its events stay in the "
            "audit trail." + not_terminated,
        )

    @mutating
    def action_auto_stop(self) -> None:
        """Toggle the idle policy for the targets: opt them out unless all already are."""
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]
        opt_out = any(not t.auto_stop_opt_out for t in targets)

        def send(confirmed: bool | None = True) -> None:
            if confirmed:
                self._send(
                    "auto-stop",
                    lambda: self.fleet_app.service.set_auto_stop_opt_out(worker_ids, opt_out),
                )

        if self._any_hidden(targets):
            verb = "Opt out of" if opt_out else "Opt back in to"
            title = f"{verb} idle auto-stop for {plural(len(targets), 'worker')}?"
            self._ask_then(title, targets, "Opt out" if opt_out else "Opt in", send)
        else:
            send()

    @mutating
    def action_policy(self) -> None:
        """The targets' own policy in a form that sends the change itself."""
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]
        service = self.fleet_app.service

        def done(result: ActionResult | None) -> None:
            if result is not None:
                self._accepted()
            self.fleet_app.notify_result(result)

        def send(change: PolicyChange) -> Awaitable[ActionResult]:
            return service.set_policy(worker_ids, change)

        known = tuple(self.fleet_app.config.schedules.named)
        self.fleet_app.push_screen(PolicyScreen(targets, known, send), done)

    @mutating
    def action_stop(self) -> None:
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]

        service = self.fleet_app.service

        def send(confirmed: bool | str | None = True) -> None:
            if confirmed == LABS_FIRST:
                self._send("stop", lambda: labs_first(service, worker_ids, "stop"))
            elif confirmed:
                self._send("stop", lambda: service.stop_workers(worker_ids))

        # Live figures only: a stopped worker's last lab count is history, not a running lab.
        with_labs = [t for t in targets if t.telemetry_live and t.active_labs_count > 0]
        if len(targets) > 1 or with_labs or self._any_hidden(targets):
            question = running_labs_question(len(with_labs), len(targets))
            title = f"Stop {plural(len(targets), 'worker')}?"
            if with_labs and can_list_labs(service):
                dialog = BusyStopScreen(
                    title,
                    self._listed(targets),
                    question=question,
                    busy_workers=with_labs,
                    labs=service.labs(),
                )
                self.fleet_app.push_screen(dialog, send)
                return
            self._ask_then(title, targets, "Stop", send, question=question)
        else:
            send()

    @mutating
    def action_terminate(self) -> None:
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]

        service = self.fleet_app.service

        def send(confirmed: bool | str | None) -> None:
            if confirmed == LABS_FIRST:
                self._send("terminate", lambda: labs_first(service, worker_ids, "terminate"))
            elif confirmed:
                self._send("terminate", lambda: service.terminate_workers(worker_ids))

        with_labs = [t for t in targets if t.telemetry_live and t.active_labs_count > 0]
        if with_labs and can_list_labs(service):
            dialog = BusyTerminateScreen(
                self._listed(targets), busy_workers=with_labs, labs=service.labs()
            )
            self.fleet_app.push_screen(dialog, send)
            return
        self.fleet_app.push_screen(TerminateScreen(self._listed(targets)), send)

    @mutating
    def action_new_worker(self) -> None:
        service = self.fleet_app.service

        def create(request: NewWorkerRequest) -> Awaitable[ActionResult]:
            return service.create_worker(request.name, request.region, request.instance_type)

        def live_names() -> list[str]:
            snapshots = self.table.snapshots.values()
            return [s.name for s in snapshots if s.status != CMLWorkerStatus.TERMINATED]

        self.fleet_app.push_screen(
            NewWorkerScreen(self.fleet_app.config, create, live_names),
            self.fleet_app.notify_result,
        )

    @mutating
    def action_licence(self) -> None:
        targets = self._targets()
        if len(targets) != 1:
            self.notify(
                "Licensing works on one worker: select it (and unmark the others).",
                severity="warning",
            )
            return
        worker = targets[0]
        service = self.fleet_app.service

        def done(result: ActionResult | None) -> None:
            if result is not None:  # sent (register or deregister), not cancelled
                self._accepted()
            self.fleet_app.notify_result(result)

        self.fleet_app.push_screen(
            LicenceScreen(
                worker,
                register=lambda token: service.register_license(worker.id, token),
                deregister=lambda: service.deregister_license(worker.id),
                hidden=not self.table.is_shown(worker.id),
                demo_token=self.fleet_app.demo_licence_token,
            ),
            done,
        )

    @mutating
    def action_import_instances(self) -> None:
        service = self.fleet_app.service

        def send(chosen: list | None) -> None:
            if chosen:
                picked = list(chosen)
                self.fleet_app.run_service_action(
                    "import", lambda: service.import_instances(picked)
                )

        dialog = ImportScreen(
            service.discover, service.discovery_errors, regions=self.fleet_app.config.regions
        )
        self.fleet_app.push_screen(dialog, send)
