"""EC2 reconciliation: what EC2 says about a region, applied to the workers. Pure and synchronous.

The rules that keep "one key, the right worker" true:

- **A worker is bound to one instance id.** An instance is matched by its id first. An instance
  carrying a worker id already bound to another instance is a *copy* ("Launch more like this"
  and launch templates copy tags): it is reported as a conflict, never merged, never imported by
  a refresh and never the target of that worker's actions. Only an explicit import binds it (as a
  new worker, with a new id).
- **Termination is what EC2 says, not an absence.** A bound instance missing from the managed
  describe is looked up by id (the caller does one batched call per region, only when something
  is missing): terminated or unknown to EC2 -> TERMINATED, observed; still there without the
  managed tag -> *detached*: kept, its state kept live, never terminated.
- **One bad record never stops a cycle.** Each instance is applied on its own; a failure is a
  problem of that instance (and of its worker's row), and every other instance still applies.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cmltui.aws.dto import CMLWorkerInstanceDto, FleetDescription
from cmltui.domain.clock import Clock
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.domain.names import visible
from cmltui.domain.worker import CMLWorker

log = logging.getLogger("cmltui.reconciler")

#: A worker created by cmltui is not looked for while EC2 may not list it yet.
NEW_INSTANCE_GRACE = timedelta(minutes=2)
#: Who is recorded as terminating a worker whose end cmltui observed but did not ask for.
OBSERVED_TERMINATED_BY = "observed in EC2 (not by cmltui)"
OBSERVED_GONE_BY = "observed in EC2: the instance no longer exists"
SYNC_ACTOR = "ec2-sync"


@dataclass(frozen=True, slots=True)
class CopyConflict:
    """An instance carrying the worker id of a worker bound to another instance."""

    region: str
    instance: CMLWorkerInstanceDto
    worker_id: str
    worker_name: str

    def describe(self) -> str:
        return (
            f"{self.instance.aws_instance_id} ({visible(self.instance.name)}) carries the "
            f"worker id of {visible(self.worker_name)}: a copy, ignored until imported as a new "
            "worker"
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """A per-instance problem, kept until the instance applies cleanly again."""

    region: str
    key: str  # instance id, or "region" for the region's own lookup
    worker_id: str | None
    message: str
    since: datetime


@dataclass
class RegionView:
    """What the last reconciliation of one region found besides the workers' own state."""

    conflicts: list[CopyConflict] = field(default_factory=list)
    problems: dict[str, Problem] = field(default_factory=dict)
    detached_ids: set[str] = field(default_factory=set)


class Ec2Reconciler:
    """Applies each region's describe to ``workers`` (shared with the controller, mutated)."""

    def __init__(
        self,
        workers: dict[str, CMLWorker],
        *,
        clock: Clock,
        managed_tag_key: str,
        endpoint_for: Callable[[CMLWorkerInstanceDto], str | None],
        on_not_running: Callable[[CMLWorker], None] = lambda worker: None,
    ) -> None:
        self._workers = workers
        self._clock = clock
        self._managed_tag_key = managed_tag_key
        self._endpoint_for = endpoint_for
        self._on_not_running = on_not_running
        self.views: dict[str, RegionView] = {}
        #: Worker id -> the schedule its instance's ``cmltui:schedule`` tag names (None: no
        #: tag), as last described; a worker absent here has not been described yet.
        self.schedule_tags: dict[str, str | None] = {}
        self._retagged: set[str] = set()

    # ------------------------------------------------------------------ queries
    def detached_ids(self) -> set[str]:
        return {wid for view in self.views.values() for wid in view.detached_ids}

    def conflicts(self) -> list[CopyConflict]:
        return [c for region in sorted(self.views) for c in self.views[region].conflicts]

    def problems(self) -> list[Problem]:
        return [p for region in sorted(self.views) for p in self.views[region].problems.values()]

    def problems_of(self, worker_id: str) -> tuple[str, ...]:
        lines = [p.message for p in self.problems() if p.worker_id == worker_id]
        lines.extend(
            f"{c.instance.aws_instance_id} carries this worker's id (a copy); cmltui ignores it"
            for c in self.conflicts()
            if c.worker_id == worker_id
        )
        return tuple(lines)

    def marked_worker_ids(self, region: str) -> set[str]:
        """Workers of ``region`` that are detached, copied or have a problem."""
        view = self.views.get(region)
        if view is None:
            return set()
        ids = set(view.detached_ids) | {c.worker_id for c in view.conflicts}
        ids |= {p.worker_id for p in view.problems.values() if p.worker_id}
        return ids

    def resolved(self, instance_id: str) -> None:
        """Forget the conflicts and problems of an instance that was just imported."""
        for view in self.views.values():
            view.conflicts = [
                c for c in view.conflicts if c.instance.aws_instance_id != instance_id
            ]
            view.problems.pop(instance_id, None)

    def reattached(self, worker_ids: set[str]) -> None:
        """These workers' instances carry the managed tag again."""
        for view in self.views.values():
            view.detached_ids -= worker_ids

    def _index(self) -> dict[str, CMLWorker]:
        return {
            w.state.aws_instance_id: w for w in self._workers.values() if w.state.aws_instance_id
        }

    # ------------------------------------------------------------------ phase 1
    def missing_instances(
        self, region: str, described: Iterable[CMLWorkerInstanceDto]
    ) -> list[str]:
        """Bound instance ids of the region's live workers that the managed describe lacks."""
        seen = {dto.aws_instance_id for dto in described}
        now = self._clock()
        missing = []
        for worker in self._workers.values():
            state = worker.state
            if state.aws_region != region or worker.is_terminated or not state.aws_instance_id:
                continue
            if state.aws_instance_id in seen:
                continue
            # Only a launch cmltui just made may not be listed yet (EC2 is eventually
            # consistent); an imported or older worker is looked up at once.
            created = state.created_at
            just_launched = state.status == CMLWorkerStatus.PENDING and created is not None
            if just_launched and created is not None and now - created < NEW_INSTANCE_GRACE:
                continue
            missing.append(state.aws_instance_id)
        return sorted(missing)

    # ------------------------------------------------------------------ phase 2
    def apply(
        self,
        description: FleetDescription,
        looked_up: FleetDescription | None = None,
        lookup_error: str | None = None,
    ) -> set[str]:
        """Apply one region's describe (and the by-id lookup of its missing instances).

        Returns the ids of workers with new events or a changed schedule tag.
        """
        region = description.region
        previous = self.views.get(region, RegionView())
        view = RegionView()
        changed: set[str] = set()
        by_instance = self._index()

        def problem(key: str, worker_id: str | None, message: str) -> None:
            old = previous.problems.get(key)
            since = old.since if old is not None and old.message == message else self._clock()
            view.problems[key] = Problem(region, key, worker_id, message, since)

        for bad in description.problems:
            key = bad.aws_instance_id or f"unreadable-{len(view.problems)}"
            worker = by_instance.get(bad.aws_instance_id or "")
            problem(key, worker.id if worker else None, f"{key}: {bad.problem}")

        # The earliest launched instance is the original when two unknown ones share an id.
        ordered = sorted(
            description.instances,
            key=lambda d: (d.launch_time is None, d.launch_time or datetime.min, d.aws_instance_id),
        )
        for dto in ordered:
            try:
                worker = self._apply_described(dto, by_instance, view)
            except Exception as err:  # one bad record never stops the region
                log.warning("EC2 record %s not applied: %r", dto.aws_instance_id, err)
                owner = by_instance.get(dto.aws_instance_id)
                problem(
                    dto.aws_instance_id,
                    owner.id if owner else None,
                    f"{dto.aws_instance_id}: not applied ({type(err).__name__}: {err})",
                )
                continue
            if worker is not None and worker.uncommitted_events:
                changed.add(worker.id)

        if lookup_error is not None:
            problem("region", None, f"could not confirm missing instances: {lookup_error}")
            # Workers whose instance could not be checked stay as they were, detached or not.
            view.detached_ids |= {
                wid
                for wid in previous.detached_ids
                if wid in self._workers and not self._workers[wid].is_terminated
            }
        elif looked_up is not None:
            changed |= self._apply_lookup(description, looked_up, by_instance, view, problem)
        self.views[region] = view
        changed |= self._retagged
        self._retagged.clear()
        return changed

    def _apply_described(
        self,
        dto: CMLWorkerInstanceDto,
        by_instance: dict[str, CMLWorker],
        view: RegionView,
    ) -> CMLWorker | None:
        worker = by_instance.get(dto.aws_instance_id)
        if worker is not None:
            self.observe(worker, dto)
            return worker
        tagged = dto.worker_id
        owner = self._workers.get(tagged) if tagged else None
        if owner is not None and owner.state.aws_instance_id:
            # Also the second of two unknown instances sharing an id: the first was imported.
            view.conflicts.append(CopyConflict(dto.region, dto, owner.id, owner.name))
            return None
        if owner is not None:
            # A worker that never had an instance (its launch was interrupted): its first
            # binding, not a change of binding.
            self.observe(owner, dto)
            by_instance[dto.aws_instance_id] = owner
            return owner
        if dto.state == CMLWorkerStatus.TERMINATED:
            return None  # nothing to manage, and cmltui never knew it
        worker = self.import_instance(dto, SYNC_ACTOR)
        by_instance[dto.aws_instance_id] = worker
        return worker

    def _apply_lookup(
        self,
        description: FleetDescription,
        looked_up: FleetDescription,
        by_instance: dict[str, CMLWorker],
        view: RegionView,
        problem: Callable[[str, str | None, str], None],
    ) -> set[str]:
        changed: set[str] = set()
        found = {dto.aws_instance_id: dto for dto in looked_up.instances}
        unreadable = {p.aws_instance_id for p in looked_up.problems if p.aws_instance_id}
        for instance_id in self.missing_instances(description.region, description.instances):
            worker = by_instance.get(instance_id)
            if worker is None:
                continue
            if instance_id in unreadable:
                problem(instance_id, worker.id, f"{instance_id}: EC2's record could not be read")
                continue
            dto = found.get(instance_id)
            if dto is None:
                worker.update_status(
                    CMLWorkerStatus.TERMINATED, changed_by=self._observed_by(worker, gone=True)
                )
            elif dto.state == CMLWorkerStatus.TERMINATED:
                worker.update_status(
                    CMLWorkerStatus.TERMINATED, changed_by=self._observed_by(worker, gone=False)
                )
            else:
                if dto.tags.get(self._managed_tag_key) != "true":
                    view.detached_ids.add(worker.id)
                self.observe(worker, dto)
            if worker.uncommitted_events:
                changed.add(worker.id)
        return changed

    @staticmethod
    def _observed_by(worker: CMLWorker, *, gone: bool) -> str | None:
        if worker.state.termination_requested_by or any(
            a.action == "terminate" for a in worker.state.open_actions()
        ):
            return None  # the operator who asked (even if interrupted) stays the one recorded
        return OBSERVED_GONE_BY if gone else OBSERVED_TERMINATED_BY

    # ------------------------------------------------------------------ building blocks
    def observe(self, worker: CMLWorker, dto: CMLWorkerInstanceDto) -> None:
        """Apply one EC2 observation of the worker's own instance through the aggregate."""
        if worker.is_terminated:
            return
        terminated = dto.state == CMLWorkerStatus.TERMINATED
        worker.update_status(
            dto.state, changed_by=self._observed_by(worker, gone=False) if terminated else None
        )
        worker.assign_instance(dto.aws_instance_id, dto.public_ip, dto.private_ip)
        worker.update_endpoint(self._endpoint_for(dto), dto.public_ip)
        if worker.id not in self.schedule_tags or self.schedule_tags[worker.id] != dto.schedule_tag:
            self.schedule_tags[worker.id] = dto.schedule_tag
            self._retagged.add(worker.id)
        if worker.state.status != CMLWorkerStatus.RUNNING:
            worker.update_service_status(CMLServiceStatus.UNAVAILABLE)
            self._on_not_running(worker)

    def import_instance(self, dto: CMLWorkerInstanceDto, imported_by: str) -> CMLWorker:
        """A new worker for an instance cmltui did not know (its tag's worker id, if any)."""
        worker = CMLWorker(
            name=dto.name,
            aws_region=dto.region,
            instance_type=dto.instance_type or "unknown",
            ami_id=dto.ami_id,
            ami_name=dto.ami_name,
            created_by=imported_by,
            aws_instance_id=dto.aws_instance_id,
            status=dto.state,
            worker_id=dto.worker_id or str(uuid.uuid4()),
            clock=self._clock,
        )
        self._workers[worker.id] = worker
        self.observe(worker, dto)
        return worker
