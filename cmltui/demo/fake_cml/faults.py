"""Fault knobs of one fake worker: what tests and the demo can make a controller do wrong."""

from __future__ import annotations

from dataclasses import dataclass

#: How a worker can drop a connection instead of answering.
CONNECTION_CLOSE = "close"  # close the socket at once, no answer
CONNECTION_RESET = "reset"  # RST (SO_LINGER 0), no answer


@dataclass
class WorkerFaults:
    """All off by default. Response faults apply to ``only_paths`` when it is set; the
    behaviour knobs (``deregister_202`` and below) apply to their own endpoint whatever it says.

    ``only_paths`` holds API paths relative to ``/api/v0/`` ("system_stats", "labs"...); a
    path matches itself and everything below it ("labs" matches "labs/x/state").
    """

    #: nginx answers 502 with an HTML page (services still starting).
    not_ready_502: bool = False
    #: Sleep this long before answering (client timeouts).
    delay_seconds: float = 0.0
    #: Answer 500 with a JSON error body.
    http_500: bool = False
    #: Answer 200 with a body that is not JSON.
    malformed_json: bool = False
    #: Answer 200 with JSON of the wrong shape.
    wrong_shape: bool = False
    #: ``"close"`` or ``"reset"``: drop the connection instead of answering.
    connection: str | None = None
    #: ``DELETE licensing/deregistration`` answers 202 (SSMS could not be told).
    deregister_202: bool = False
    #: A registration stays IN_PROGRESS for ever (client time limit).
    registration_never_completes: bool = False
    #: ``PUT labs/{id}/start`` answers 400 "Cannot start lab: ..." (no capacity to start).
    lab_start_refused: bool = False
    #: Lab start, stop and wipe answer 204 at once and complete this many seconds later (by
    #: the worker's clock): a stop is not STOPPED yet, so a wipe right after it is refused.
    lab_transition_seconds: float = 0.0
    only_paths: frozenset[str] | None = None

    def applies_to(self, api_path: str) -> bool:
        if self.only_paths is None:
            return True
        return any(api_path == path or api_path.startswith(path + "/") for path in self.only_paths)
