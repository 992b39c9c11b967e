"""A running worker's service is "pending" until its controller first answers (issue 15 #5).

Before the first CML read of a run the table would otherwise show "unavailable" for every
running worker, which reads as an outage. Any answer ends "pending": a good one, and a failure
too (then the error is what the operator must see).
"""

from __future__ import annotations


def _by_name(controller) -> dict:
    return {s.name: s for s in controller.workers()}


async def test_running_worker_is_pending_until_its_first_cml_answer(fleet):
    await fleet.launch("pending-first")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    assert _by_name(controller)["pending-first"].service_pending is True
    await controller.refresh_cml()
    assert _by_name(controller)["pending-first"].service_pending is False


async def test_a_failed_first_answer_ends_pending_too(fleet):
    instance_id = await fleet.launch("pending-fails")
    fleet.cml.worker(instance_id).set_faults(connection="reset")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    assert _by_name(controller)["pending-fails"].service_pending is True
    await controller.refresh_cml()
    worker = _by_name(controller)["pending-fails"]
    assert worker.service_pending is False
    assert worker.last_error
