"""Errors the domain raises when an operator intent or an observed value is refused."""

from __future__ import annotations


class DomainError(Exception):
    """Base of the domain's refusals; ``str(err)`` is a message an operator can read."""


class ActionRefusedError(DomainError):
    """An operator action is not allowed in the worker's current state."""

    def __init__(self, action: str, worker_name: str, reason: str) -> None:
        self.action = action
        self.worker_name = worker_name
        self.reason = reason
        super().__init__(f"cannot {action} {worker_name}: {reason}")


class InvalidTelemetryError(DomainError):
    """A telemetry value outside its range (CPU or memory outside 0-100, negative labs)."""
