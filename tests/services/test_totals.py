"""The header's totals are the sum of the rows as published, and a publication works out each
worker's idle rule once (its row's), not again for the whole fleet (moto server, fake CML,
the TinyDB file, a frozen clock)."""

from __future__ import annotations

from math import fsum

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.snapshot import ChangeSet, WorkerSnapshot


def _auto_stop_off(fleet, threshold: int = 5):
    idle = fleet.config.idle.model_copy(
        update={"auto_stop": False, "threshold_minutes": threshold, "snooze_minutes": 0}
    )
    return fleet.config.model_copy(update={"idle": idle})


def _rows(change_sets: list[ChangeSet]) -> dict[str, WorkerSnapshot]:
    rows: dict[str, WorkerSnapshot] = {}
    for change_set in change_sets:
        if change_set.is_full:
            rows = {}
        for worker_id in change_set.removed_ids:
            rows.pop(worker_id, None)
        rows.update({s.id: s for s in change_set.changed})
    return rows


async def test_the_header_is_the_sum_of_the_rows_it_was_published_with(fleet):
    await fleet.launch("busy", running_labs=1)
    await fleet.launch("quiet-1")
    await fleet.launch("quiet-2")
    await fleet.launch("parked")
    controller = fleet.make_controller(_auto_stop_off(fleet))
    published: list[ChangeSet] = []
    controller.subscribe(published.append)
    await controller.refresh_once()
    parked = next(s for s in controller.workers() if s.name == "parked")
    assert (await controller.stop_workers([parked.id])).ok
    await controller.refresh_once()
    fleet.clock.advance(minutes=10)
    await controller.refresh_once()

    rows = _rows(published)
    totals = published[-1].totals
    live = [r for r in rows.values() if r.status != CMLWorkerStatus.TERMINATED]
    running = [r for r in live if r.status == CMLWorkerStatus.RUNNING]
    assert totals.total == len(live) == 4
    assert totals.running == len(running) == 3
    assert totals.stopped == 1
    idle_rows = sorted(r.name for r in running if r.is_idle)
    assert idle_rows == ["quiet-1", "quiet-2"]  # the busy one has a running lab
    assert totals.idle == len(idle_rows)
    # Exact sums (fsum): the same figures whatever order the rows come in.
    assert totals.cost_per_hour_usd == fsum(r.hourly_cost_usd for r in live)
    assert totals.cost_so_far_usd == fsum(r.cost_so_far_usd for r in live)
    cpus = [r.seen_cpu_utilization for r in running if r.seen_cpu_utilization is not None]
    assert totals.average_cpu == (fsum(cpus) / len(cpus) if cpus else None)


async def test_a_publication_works_out_the_idle_rule_once_per_changed_row(fleet):
    for n in range(4):
        await fleet.launch(f"w{n}")
    controller = fleet.make_controller(_auto_stop_off(fleet))
    await controller.refresh_once()
    verdicts: list[str] = []
    idle_verdict = controller._idle_verdict

    def counted(worker, now):
        verdicts.append(worker.id)
        return idle_verdict(worker, now)

    controller._idle_verdict = counted  # type: ignore[method-assign]
    published: list[ChangeSet] = []
    controller.subscribe(published.append)
    one = next(iter(controller._workers.values()))
    controller._publish([one.id])

    assert [s.id for s in published[-1].changed] == [one.id]
    # Its row's verdict only; the header counted the others from their published rows
    # (it used to work out all four again: five verdicts).
    assert verdicts == [one.id]
    assert published[-1].totals.running == 4
