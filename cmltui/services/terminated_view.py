"""Which terminated workers the fleet view hides: those that ended more than
``[ui] terminated_visible_days`` ago, unless the operator shows terminated workers.

Their records stay (``cmltui forget`` removes one); hiding only keeps the table about the
fleet that exists. Pure: the screen passes every change set through ``TerminatedView.filter``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.snapshot import ChangeSet, WorkerSnapshot


def hidden_by_age(snapshot: WorkerSnapshot, now: datetime, visible_days: float) -> bool:
    """A terminated worker that ended more than ``visible_days`` ago (0: at once); one with no
    recorded end counts as long ended."""
    if snapshot.status != CMLWorkerStatus.TERMINATED:
        return False
    ended = snapshot.terminated_at or snapshot.updated_at
    if visible_days <= 0 or ended is None:
        return True
    return now - ended > timedelta(days=visible_days)


class TerminatedView:
    """The fleet view's terminated workers: which are hidden now, and how many."""

    def __init__(self, visible_days: float) -> None:
        self.visible_days = visible_days
        #: The operator asked to see every terminated worker.
        self.show_all = False
        #: Ids hidden by the last change set filtered.
        self.hidden_ids: set[str] = set()
        #: Every terminated worker seen, so one that ages past the limit is hidden on time
        #: (a terminated worker is seldom published again).
        self._terminated: dict[str, WorkerSnapshot] = {}

    def filter(self, change_set: ChangeSet, now: datetime) -> ChangeSet:
        """The change set as the table should see it: hidden workers left out (and removed
        when they were shown)."""
        if change_set.is_full:
            self._terminated.clear()
        for worker_id in change_set.removed_ids:
            self._terminated.pop(worker_id, None)
        for snapshot in change_set.changed:
            if snapshot.status == CMLWorkerStatus.TERMINATED:
                self._terminated[snapshot.id] = snapshot
            else:
                self._terminated.pop(snapshot.id, None)
        hidden = (
            set()
            if self.show_all
            else {
                worker_id
                for worker_id, snapshot in self._terminated.items()
                if hidden_by_age(snapshot, now, self.visible_days)
            }
        )
        changed_ids = {snapshot.id for snapshot in change_set.changed}
        newly_hidden = (hidden - self.hidden_ids) | (hidden & changed_ids)
        self.hidden_ids = hidden
        if not newly_hidden and not (hidden & changed_ids):
            return change_set
        removed = set(change_set.removed_ids) | newly_hidden
        return replace(
            change_set,
            changed=tuple(s for s in change_set.changed if s.id not in hidden),
            removed_ids=tuple(sorted(removed)),
        )
