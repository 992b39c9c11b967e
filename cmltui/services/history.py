"""Bounded telemetry history per worker, for the detail pane's sparklines."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Generic, TypeVar

#: What a ring holds: floats (typecode "f") or small ints ("H").
_N = TypeVar("_N", int, float)


class _Ring(Generic[_N]):
    """A bounded series of numbers in a compact array (4 bytes a sample, not a float object)."""

    __slots__ = ("_capacity", "_values")

    def __init__(self, capacity: int, typecode: str) -> None:
        self._capacity = capacity
        self._values: array[_N] = array(typecode)

    def append(self, value: _N) -> None:
        self._values.append(value)
        if len(self._values) > self._capacity:
            del self._values[0]  # a few hundred samples: shifting them is cheaper than a deque

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: int) -> _N:
        return self._values[index]

    def __iter__(self) -> Iterator[_N]:
        return iter(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)


class TelemetryHistory:
    """Three rings (CPU %, memory %, active labs) of at most ``capacity`` samples each.

    Memory stays bounded whatever the uptime: each ring drops its oldest sample when full.
    """

    __slots__ = ("cpu", "labs", "memory")

    def __init__(self, capacity: int) -> None:
        self.cpu: _Ring[float] = _Ring(capacity, "f")
        self.memory: _Ring[float] = _Ring(capacity, "f")
        self.labs: _Ring[int] = _Ring(capacity, "H")

    def add(self, cpu: float | None, memory: float | None, labs: int) -> None:
        # A missing value repeats the last one, so the sparkline keeps its time axis.
        self.cpu.append(cpu if cpu is not None else (self.cpu[-1] if self.cpu else 0.0))
        self.memory.append(
            memory if memory is not None else (self.memory[-1] if self.memory else 0.0)
        )
        self.labs.append(min(max(labs, 0), 65535))


#: Never more samples than this per series, however short the interval: a sparkline is a few
#: dozen cells wide, and 1,000 workers x 3 series must stay small in memory.
MAX_HISTORY_SAMPLES = 240


def history_capacity(window_seconds: float, interval_seconds: float) -> int:
    """Samples covering ``window_seconds`` at one per ``interval_seconds``, capped."""
    wanted = int(window_seconds // max(interval_seconds, 1.0))
    return min(max(wanted, 2), MAX_HISTORY_SAMPLES)
