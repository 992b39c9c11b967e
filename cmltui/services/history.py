"""Bounded telemetry history per worker, for the detail pane's sparklines."""

from __future__ import annotations

from collections import deque


class TelemetryHistory:
    """Three rings (CPU %, memory %, active labs) of at most ``capacity`` samples each.

    Memory stays bounded whatever the uptime: a deque with ``maxlen`` drops the oldest sample.
    """

    __slots__ = ("cpu", "labs", "memory")

    def __init__(self, capacity: int) -> None:
        self.cpu: deque[float] = deque(maxlen=capacity)
        self.memory: deque[float] = deque(maxlen=capacity)
        self.labs: deque[int] = deque(maxlen=capacity)

    def add(self, cpu: float | None, memory: float | None, labs: int) -> None:
        # A missing value repeats the last one, so the sparkline keeps its time axis.
        self.cpu.append(cpu if cpu is not None else (self.cpu[-1] if self.cpu else 0.0))
        self.memory.append(
            memory if memory is not None else (self.memory[-1] if self.memory else 0.0)
        )
        self.labs.append(labs)


#: Never more samples than this per series, however short the interval: a sparkline is a few
#: dozen cells wide, and 1,000 workers x 3 series must stay small in memory.
MAX_HISTORY_SAMPLES = 240


def history_capacity(window_seconds: float, interval_seconds: float) -> int:
    """Samples covering ``window_seconds`` at one per ``interval_seconds``, capped."""
    wanted = int(window_seconds // max(interval_seconds, 1.0))
    return min(max(wanted, 2), MAX_HISTORY_SAMPLES)
