"""Recording what EC2 answered to an action, on the aggregate that asked for it."""

from __future__ import annotations

from collections.abc import Callable

from cmltui.domain.errors import DomainError
from cmltui.domain.worker import CMLWorker


def settle_accepted(worker: CMLWorker, token: str, apply: Callable[[], object]) -> None:
    """EC2 accepted the call: apply its effect (``mark_stopping``, ``record_auto_stop``...),
    then record the intent's outcome.

    The worker may have moved while the call was in flight: another operator's start or stop on
    a shared store (this process's intent commit rebased onto it), or the EC2 loop seeing the
    instance stopped from the console. Then the effect no longer applies (the domain refuses
    it), and the state already is EC2's: the outcome is still recorded, saying so, and the rest
    of the batch and the cycle go on."""
    try:
        apply()
    except DomainError:
        detail = f"EC2 accepted it; the worker was already {worker.state.status} (another actor)"
        worker.complete_action(token, "accepted", detail)
        return
    worker.complete_action(token, "accepted")
