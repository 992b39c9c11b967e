"""One poller for a team: the policy runner reads CML, the other processes use what it stored.

Every cmltui on a shared store used to ask every CML controller itself: five operators, five
times the load on each controller. Now the process holding the policy lease polls, and at the
end of each CML cycle stores a *poll mark* (which workers it read without error, and when).
Another process, at its own cycle, reads the mark; while it is as fresh as a read of its own
would be (``PollMark.fresh_for``), it catches up with the store and takes those workers'
figures from it, and asks CML (and CloudWatch) only for the rest. When the runner stops
(quit, killed, its store unreachable), its mark goes stale within one interval and every
process polls for itself again until a new runner's marks arrive.

A part of ``FleetController`` (see ``cmltui.services.controller``): it shares the controller's
state through ``ControllerBase``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cmltui.domain.lease import PollMark
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller_base import ControllerBase

log = logging.getLogger("cmltui.controller")


class SharedPollingMixin(ControllerBase):
    async def _cml_runner(self) -> bool:
        """Whether this process reads CML for the team (it holds, or just took, the lease).

        A read-only process never takes the lease; it only borrows."""
        if self.read_only:
            return False
        return await self._holds_policy_lease()

    async def _borrowable(self, targets: Sequence[CMLWorker]) -> tuple[set[str], PollMark | None]:
        """The targets whose figures the runner's fresh poll mark covers (and the mark)."""
        if not targets:
            return set(), None
        try:
            mark = await self._repository.poll_mark_async()
        except Exception as err:  # unreadable: poll everything ourselves this cycle
            log.warning("poll mark unreadable: %s", err)
            return set(), None
        if (
            mark is None
            or mark.poller == self.holder_id
            or (self.policy_runner is not None and mark.poller != self.policy_runner)
            or not mark.fresh_for(self._clock(), self.config.refresh.cml_seconds)
        ):
            return set(), None
        covered = {w.id for w in targets if w.id in mark.worker_ids}
        if covered:
            await self._sync_store()  # the runner's figures, as it stored them
        return covered, mark

    def _adopt_borrowed(self, workers: Sequence[CMLWorker], mark: PollMark) -> None:
        """Show the stored figures of workers the runner read: no CML request, no event."""
        for worker in workers:
            runtime = self._runtime_for(worker.id)
            self._set_cml_error(worker, None)
            runtime.cml_borrowed = True
            # When this process polls the worker again, it reads everything first.
            runtime.cml_full_read_due = True
            runtime.cml_cpu_known = worker.state.cpu_utilization is not None
            if runtime.borrowed_mark_at != mark.at:
                runtime.borrowed_mark_at = mark.at
                runtime.telemetry_at = mark.at
                state = worker.state
                runtime.history.add(
                    state.cpu_utilization, state.memory_utilization, state.active_labs_count
                )
                self._touch(worker)

    async def _store_poll_mark(self, polled: Sequence[CMLWorker], cycle_seconds: float) -> None:
        """The runner's mark: the workers this cycle read without error."""
        answered = [
            w.id
            for w in polled
            if (runtime := self._runtime.get(w.id)) is not None and runtime.cml_error is None
        ]
        mark = PollMark(
            poller=self.holder_id,
            at=self._clock(),
            cycle_seconds=cycle_seconds,
            interval_seconds=self.config.refresh.cml_seconds,
            worker_ids=frozenset(answered),
        )
        try:
            await self._repository.put_poll_mark_async(mark)
        except Exception as err:  # the others poll for themselves until the next mark
            log.warning("poll mark not stored: %s", err)
