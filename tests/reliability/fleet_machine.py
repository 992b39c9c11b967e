"""A model-based test of fleet truth (issue 11, item 8): EC2 changed from outside, at random.

``FleetModel`` is a ``hypothesis.stateful.RuleBasedStateMachine`` that drives the real
controller (real ``AwsGateway`` on moto's server over HTTP, real ``CmlApiClientPool`` on the
project's fake CML server over HTTPS, a real store file in a fresh folder per example, a
``FrozenClock``) while a "colleague" changes EC2 with plain boto3 calls, as the EC2 console
and other tools do: run managed and unmanaged instances, start, stop, terminate, "Launch more
like this" (a new instance with a copy of the tags), remove and re-add the managed tag, and
rename to blank, odd and look-alike names.

Every rule is followed by the invariants; refreshes and actions check their own contracts.
The checks are pure functions over plain values (``check_*``, returning a list of violations)
so that ``test_fleet_model.py`` can show that each of them fails on a bad fleet.

``FleetModel.parts`` (the servers) is set by whoever runs the machine: the pytest test or
``scripts/fleet_model.py``. ``FleetModel.stats`` counts examples, steps and checks.

This module holds the rules and the invariants; beside it, ``fleet_world`` (regions, the known
defects, the names a colleague gives, EC2 as moto says), ``fleet_checks`` (the ``check_*``
functions) and ``fleet_harness`` (``Parts``, ``Stats``, the configuration and
``FleetModelBase``, the plumbing every rule uses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
)

from cmltui.aws.dto import WORKER_ID_TAG
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.names import name_key
from tests.reliability.fleet_checks import (
    check_action,
    check_bindings,
    check_create,
    check_discovered,
    check_event_bindings,
    check_import,
    check_not_live,
    check_reattach,
    check_refresh,
    check_terminated_alive,
    check_untouched,
)
from tests.reliability.fleet_harness import FleetModelBase
from tests.reliability.fleet_world import (
    DISCOVER_BOUND,
    DISCOVER_TERMINATED,
    DISCOVER_TWICE,
    MANAGED_KEY,
    REGIONS,
    names,
    picks,
    states_by_id,
    subsets,
)


class FleetModel(FleetModelBase):
    """The rules (the colleague's changes and cmltui's refreshes and actions) and the
    invariants; the plumbing is ``FleetModelBase``'s (``fleet_harness``)."""

    # -- the fleet at the start: managed instances, seen by a first refresh ---------------------
    @initialize(fleet=st.lists(st.tuples(st.sampled_from(REGIONS), names), min_size=1, max_size=4))
    def initial_fleet(self, fleet: list[tuple[str, str | None]]) -> None:
        for region, name in fleet:
            self.serial += 1
            tags = {MANAGED_KEY: "true", WORKER_ID_TAG: f"outside-{self.serial}"}
            if name is not None:
                tags["Name"] = name
            self._launch(region, tags)
        self._refresh(3, full=False)

    # -- outside changes (a colleague with boto3) -----------------------------------------------
    @rule(region=st.sampled_from(REGIONS), name=names, with_id=st.booleans())
    def run_managed(self, region: str, name: str | None, with_id: bool) -> None:
        self.serial += 1
        tags = {MANAGED_KEY: "true"}
        if with_id:
            tags[WORKER_ID_TAG] = f"outside-{self.serial}"
        if name is not None:
            tags["Name"] = name
        instance_id = self._launch(region, tags)
        self.step("outside", f"run managed {instance_id} in {region} tags={tags}")

    @rule(region=st.sampled_from(REGIONS), name=names)
    def run_unmanaged(self, region: str, name: str | None) -> None:
        tags = {"cml:worker": "yes"}
        if name is not None:
            tags["Name"] = name
        instance_id = self._launch(region, tags)
        self.step("outside", f"run unmanaged {instance_id} in {region} tags={tags}")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks, how=st.sampled_from(["start", "stop", "terminate"]))
    def change_state(self, pick: int, how: str) -> None:
        # Only what EC2 allows: a terminated instance is never started or stopped again.
        instance_id = self.pick_instance(pick, live=how != "terminate")
        if instance_id is None:
            return
        ec2 = self.ec2[self.instance_region[instance_id]]
        getattr(ec2, f"{how}_instances")(InstanceIds=[instance_id])
        self.step("outside", f"{how} {instance_id}")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks, rename=st.none() | names)
    def launch_more_like_this(self, pick: int, rename: str | None) -> None:
        original = self.pick_instance(pick)
        assert original is not None
        region = self.instance_region[original]
        raw = self.ec2[region].describe_instances(InstanceIds=[original])["Reservations"][0][
            "Instances"
        ][0]
        tags = {
            t["Key"]: t["Value"] for t in raw.get("Tags", []) if not t["Key"].startswith("aws:")
        }
        if rename is not None:
            tags["Name"] = rename
        copy_id = self._launch(region, tags)
        self.step("outside", f"launch more like {original}: {copy_id} tags={tags}")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks, how=st.sampled_from(["delete", "false"]))
    def remove_managed_tag(self, pick: int, how: str) -> None:
        instance_id = self.pick_instance(pick)
        assert instance_id is not None
        ec2 = self.ec2[self.instance_region[instance_id]]
        if how == "delete":
            ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": MANAGED_KEY}])
        else:
            ec2.create_tags(Resources=[instance_id], Tags=[{"Key": MANAGED_KEY, "Value": "false"}])
        self.step("outside", f"managed tag of {instance_id}: {how}")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks)
    def add_managed_tag(self, pick: int) -> None:
        instance_id = self.pick_instance(pick)
        assert instance_id is not None
        ec2 = self.ec2[self.instance_region[instance_id]]
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": MANAGED_KEY, "Value": "true"}])
        self.step("outside", f"managed tag of {instance_id}: true")

    @precondition(lambda self: self.instance_order)
    @rule(pick=picks, name=names)
    def rename(self, pick: int, name: str | None) -> None:
        instance_id = self.pick_instance(pick)
        assert instance_id is not None
        ec2 = self.ec2[self.instance_region[instance_id]]
        if name is None:
            ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": "Name"}])
        else:
            ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "Name", "Value": name}])
        self.step("outside", f"rename {instance_id} to {name!r}")

    # -- cmltui ---------------------------------------------------------------------------------
    @rule(minutes=st.sampled_from([0, 1, 3]))
    def refresh_ec2(self, minutes: int) -> None:
        """3 minutes is past the grace a new worker gets (NEW_INSTANCE_GRACE, 2 min)."""
        self._refresh(minutes, full=False)

    @rule(minutes=st.sampled_from([0, 3]))
    def refresh_everything(self, minutes: int) -> None:
        """EC2, then CloudWatch and CML together (the fake CML over HTTPS)."""
        self._refresh(minutes, full=True)

    def _refresh(self, minutes: int, *, full: bool) -> None:
        self.clock.advance(minutes=minutes)
        before = self.view()
        if full:
            self.run(self.ctl.refresh_once())
        else:
            self.run(self.ctl.refresh_ec2())
        after = self.view(fresh=True)
        self.step("refresh", f"+{minutes} min, {'full' if full else 'EC2'} refresh")
        self.expect(check_untouched(before, after, set(), "refresh"), len(before))
        new = self._adopt_new_workers(True, "a refresh")
        # A worker a refresh brings in is a managed instance's own: its worker id tag, if any.
        for worker in new:
            inst = after.get(worker.aws_instance_id or "")
            tagged = inst.tags.get(WORKER_ID_TAG) if inst else None
            self.expect(
                []
                if inst is not None and inst.managed and tagged in (None, worker.id)
                else [f"refresh brought in {worker.id} on {worker.aws_instance_id}: {inst}"]
            )
        workers = self.ctl.workers()
        errors = self.ctl.current().errors
        self.expect(
            check_refresh(workers, after, errors, self.clock(), REGIONS),
            len(after) + len(workers),
        )
        self.seen("refresh: a worker detached", any(w.detached for w in workers))
        self.seen("refresh: a copy shown", any("carries the worker id" in e.error for e in errors))
        self.seen(
            "refresh: a worker terminated",
            any(w.status == CMLWorkerStatus.TERMINATED for w in workers),
        )

    def _lifecycle(self, kind: str, chosen: Sequence[int]) -> None:
        given = self.pick_workers(chosen)
        workers_before = before_by_id = self.workers()
        before = self.view()
        method = getattr(self.ctl, f"{kind}_workers")
        result = self.run(method(given))
        after = self.view(fresh=True)
        self.step(
            kind,
            f"{kind} {[(w, before_by_id[w].name, before_by_id[w].aws_instance_id) for w in given]}"
            f" -> {result.summary()}",
        )
        self._adopt_new_workers(False, kind)
        self.seen(f"{kind}: done", result.done)
        self.seen(f"{kind}: failed", result.failed)
        self.seen(f"{kind}: refused", result.refused)
        self.expect(
            check_action(kind, given, workers_before, self.workers(), before, after, result),
            len(before),
        )

    @rule(chosen=subsets)
    def start_workers(self, chosen: list[int]) -> None:
        self._lifecycle("start", chosen)

    @rule(chosen=subsets)
    def stop_workers(self, chosen: list[int]) -> None:
        self._lifecycle("stop", chosen)

    @rule(chosen=subsets)
    def terminate_workers(self, chosen: list[int]) -> None:
        self._lifecycle("terminate", chosen)

    @rule(chosen=st.none() | subsets)
    def import_discovered(self, chosen: list[int] | None) -> None:
        offered = self.run(self.ctl.discover())
        before = self.view()
        workers_before = self.ctl.workers()
        bound = {w.aws_instance_id for w in workers_before if w.aws_instance_id}
        self.expect(check_discovered(offered, before, bound, self.tolerate), len(offered))
        kinds = {DISCOVER_TWICE, DISCOVER_TERMINATED, DISCOVER_BOUND}
        for kind in sorted(kinds & self.tolerate):
            if check_discovered(offered, before, bound, kinds - {kind}):
                self.seen(f"known defect reached: {kind}")
        if chosen is None:
            selection = list(offered)
        else:
            selection = [offered[p % len(offered)] for p in chosen] if offered else []
            selection = list({id(d): d for d in selection}.values())
        # Step around the known defects: an operator would not pick these if cmltui told.
        if DISCOVER_TERMINATED in self.tolerate:
            selection = [d for d in selection if before[d.aws_instance_id].state != "terminated"]
        if DISCOVER_TWICE in self.tolerate:
            selection = list({d.aws_instance_id: d for d in reversed(selection)}.values())[::-1]
        live_keys = {
            name_key(w.name) for w in workers_before if w.status != CMLWorkerStatus.TERMINATED
        }
        result = self.run(self.ctl.import_instances(selection))
        after = self.view(fresh=True)
        self.step(
            "import",
            f"offered {[(d.aws_instance_id, d.name, d.copy_of, d.problem) for d in offered]}; "
            f"chose {[d.aws_instance_id for d in selection]} -> {result.summary()}",
        )
        new = self._adopt_new_workers(True, "an import")
        self.seen("import: a copy offered", any(d.copy_of for d in offered))
        self.seen("import: done", result.done)
        self.seen("import: refused", result.refused)
        self.expect(
            check_import(selection, live_keys, bound, new, before, after, result),
            len(selection) + len(before),
        )

    @rule(chosen=subsets, only_detached=st.booleans())
    def reattach(self, chosen: list[int], only_detached: bool) -> None:
        workers = ws = self.workers()
        candidates = [w for w in self.worker_order if workers[w].detached] if only_detached else []
        pool = candidates or self.worker_order
        given = list(dict.fromkeys(pool[p % len(pool)] for p in chosen)) if pool else []
        before = self.view()
        result = self.run(self.ctl.reattach_workers(given))
        after = self.view(fresh=True)
        self.step(
            "reattach",
            f"{[(w, ws[w].name, ws[w].aws_instance_id, ws[w].detached) for w in given]}"
            f" -> {result.summary()}",
        )
        self._adopt_new_workers(False, "a re-tag")
        self.seen("re-tag: done", result.done)
        self.expect(
            check_reattach(given, workers, self.workers(), before, after, result), len(before)
        )

    @rule(name=names, region=st.sampled_from(REGIONS))
    def create(self, name: str | None, region: str) -> None:
        name = name or ""
        live_keys = {
            name_key(w.name) for w in self.ctl.workers() if w.status != CMLWorkerStatus.TERMINATED
        }
        before = self.view()
        result = self.run(self.ctl.create_worker(name, region))
        after = self.view(fresh=True)
        self.step("create", f"create {name!r} in {region} -> {result.summary()}")
        new = self._adopt_new_workers(True, "a create")
        self.seen("create: done", result.done)
        self.seen("create: refused", result.refused)
        self.expect(check_create(name, live_keys, new, before, after, result), len(before))
        for worker in new:  # its instance is one the colleague may change from now on
            iid = worker.aws_instance_id or ""
            self.instance_order.append(iid)
            self.instance_region[iid] = region
            self.parts.cml.add_worker(iid, clock=self.clock, evolve=False)

    @rule()
    def restart(self) -> None:
        """Quit cmltui and start it again on the same data file: the same fleet comes back."""

        def key(w: Any) -> tuple:
            return (w.id, w.name, w.region, w.aws_instance_id, w.status, w.created_at)

        before = sorted(key(w) for w in self.ctl.workers())
        self._close()
        self._open()
        after = sorted(key(w) for w in self.ctl.workers())
        self.step("restart", f"{len(before)} workers")
        self.expect([] if before == after else [f"restart: {before} became {after}"], len(before))

    # -- after every step -----------------------------------------------------------------------
    @invariant()
    def one_worker_one_instance(self) -> None:
        if self.controller is None:
            return
        workers = self.ctl.workers()
        self._adopt_new_workers(False, "a step that cannot add workers")
        self.expect(check_bindings(workers, self.bindings), len(workers))
        for worker in workers:
            events = self.ctl.events_for(worker.id, limit=10_000)
            self.expect(check_event_bindings(worker.id, worker.aws_instance_id, events))

    @invariant()
    def no_live_instance_behind_a_terminated_worker(self) -> None:
        if self.controller is None:
            return
        workers = self.ctl.workers()
        ids: dict[str, list[str]] = {}
        for w in workers:
            if w.status == CMLWorkerStatus.TERMINATED and w.aws_instance_id:
                ids.setdefault(w.region, []).append(w.aws_instance_id)
        self.expect(check_terminated_alive(workers, states_by_id(self.ec2, ids)), len(workers))

    @invariant()
    def figures_of_stopped_workers_are_not_live(self) -> None:
        if self.controller is None:
            return
        workers = self.ctl.workers()
        self.expect(check_not_live(workers), len(workers))
