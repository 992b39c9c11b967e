"""The CMLWorker's intents and lab audit records (mixed into ``CMLWorker``).

An intent is an action recorded (and saved) before its AWS or CML call goes out, so that an
interrupted call still leaves who asked for what; its outcome is recorded once the call answers,
or by reconciliation when its caller died. A lab action also leaves one record of who did what
to which lab and how CML answered.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cmltui.domain.events import (
    CMLWorkerActionCompletedDomainEvent,
    CMLWorkerActionRequestedDomainEvent,
    CMLWorkerLabActionDomainEvent,
    DomainEvent,
)
from cmltui.domain.worker_state import CMLWorkerState, PendingAction


class WorkerIntents:
    """Needs the aggregate's ``state``, ``id``, ``_clock`` and ``_record``."""

    if TYPE_CHECKING:
        state: CMLWorkerState
        _clock: Callable[[], datetime]

        @property
        def id(self) -> str: ...

        def _record(self, event: DomainEvent) -> None: ...

    def request_action(
        self,
        action: str,
        requested_by: str | None,
        request_token: str,
        *,
        target: str | None = None,
    ) -> PendingAction:
        """Record an action before its AWS or CML call goes out (intent first).

        The caller checks the action is allowed first (``check_can_*``); an older action still
        unanswered stays open (its call may have gone out: what EC2 shows later can still be
        its doing). ``target`` names what it acts on inside the worker (a lab), when not the
        worker itself.
        """
        self._record(
            CMLWorkerActionRequestedDomainEvent(
                aggregate_id=self.id,
                action=action,
                request_token=request_token,
                requested_by=requested_by,
                aws_instance_id=self.state.aws_instance_id,
                target=target,
                requested_at=self._clock(),
            )
        )
        assert self.state.pending_action is not None
        return self.state.pending_action

    def complete_action(self, request_token: str, outcome: str, detail: str | None = None) -> bool:
        """Record the outcome of the open action with this token. False when not open."""
        action = next(
            (a for a in self.state.open_actions() if a.request_token == request_token), None
        )
        if action is None:
            return False
        self._record(
            CMLWorkerActionCompletedDomainEvent(
                aggregate_id=self.id,
                action=action.action,
                request_token=request_token,
                outcome=outcome,
                detail=detail,
                completed_at=self._clock(),
            )
        )
        return True

    def expire_pending_action(
        self, older_than: timedelta, *, keep: Collection[str] = ()
    ) -> PendingAction | None:
        """Open actions older than ``older_than`` that nothing confirmed are recorded as not
        observed (their caller died and EC2 or CML never showed them), except those whose
        token is in ``keep`` (still awaited). Returns the newest of them, or None."""
        now = self._clock()
        expired = [
            a
            for a in self.state.open_actions()
            if now - a.requested_at >= older_than and a.request_token not in keep
        ]
        minutes = older_than.total_seconds() / 60
        for action in reversed(expired):  # oldest first, as they were asked
            self.complete_action(
                action.request_token,
                "not-observed",
                f"its caller stopped before the answer and nothing showed it within "
                f"{minutes:g} min",
            )
        return expired[0] if expired else None

    def record_lab_action(
        self,
        action: str,
        lab_id: str | None,
        lab_title: str | None,
        requested_by: str | None,
        outcome: str,
        detail: str | None = None,
    ) -> None:
        """Who did what to which of the worker's labs, and how CML answered (``accepted`` or
        ``failed``, with CML's reason): the audit trail's record of a lab action."""
        self._record(
            CMLWorkerLabActionDomainEvent(
                aggregate_id=self.id,
                action=action,
                lab_id=lab_id,
                lab_title=lab_title,
                requested_by=requested_by,
                outcome=outcome,
                detail=detail,
                completed_at=self._clock(),
            )
        )
