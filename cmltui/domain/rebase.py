"""Events recorded on an older copy of a worker, laid over a newer copy another process wrote.

Both stores meet this: two cmltui (or a cmltui and its own other loop, before a write) change
one worker from the same copy, and the second writer's events go on top of the first's. An
event that says nothing new there is left out of the trail, so that nothing is recorded twice:

* a second creation (two processes importing one instance build the same worker from its tag);
* the outcome of an action another process already answered (its EC2 loop saw the instance
  stop and recorded "confirmed" before the caller's "accepted" arrived);
* an observation that changes nothing (both saw the instance stop).

History-only events (lab actions) always stay: they change no state but are what happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from cmltui.domain.events import (
    CMLWorkerActionCompletedDomainEvent,
    CMLWorkerCreatedDomainEvent,
    CMLWorkerLabActionDomainEvent,
    DomainEvent,
)
from cmltui.domain.worker_state import CMLWorkerState

#: Bookkeeping every event changes: not what an event says.
_BOOKKEEPING = {"version", "updated_at"}


def adds_to(state: CMLWorkerState, event: DomainEvent) -> bool:
    """Whether ``event`` still says something on ``state``."""
    if isinstance(event, CMLWorkerLabActionDomainEvent):
        return True
    if isinstance(event, CMLWorkerCreatedDomainEvent):
        return not state.id
    if isinstance(event, CMLWorkerActionCompletedDomainEvent):
        return any(a.request_token == event.request_token for a in state.open_actions())
    candidate = state.model_copy(deep=True)
    candidate.apply(event)
    return candidate.model_dump(exclude=_BOOKKEEPING) != state.model_dump(exclude=_BOOKKEEPING)


def lay_over(
    state: CMLWorkerState, events: Sequence[DomainEvent]
) -> tuple[CMLWorkerState, list[int]]:
    """``state`` (not changed) with the events that add something applied, and their indexes."""
    result = state.model_copy(deep=True)
    kept: list[int] = []
    for index, event in enumerate(events):
        if adds_to(result, event):
            result.apply(event)
            kept.append(index)
    return result, kept
