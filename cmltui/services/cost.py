"""Cost from the configured hourly prices."""

from __future__ import annotations

from datetime import datetime, timedelta

from cmltui.config import CostConfig
from cmltui.domain.enums import BILLABLE_STATUSES
from cmltui.domain.worker import CMLWorkerState


def uptime_seconds(state: CMLWorkerState, now: datetime) -> float | None:
    """Seconds since the worker last started, while it is pending or running."""
    if state.status not in BILLABLE_STATUSES or state.last_started_at is None:
        return None
    return max((now - state.last_started_at) / timedelta(seconds=1), 0.0)


def hourly_cost(state: CMLWorkerState, prices: CostConfig) -> float:
    """What the worker costs per hour right now (0 unless pending or running)."""
    if state.status not in BILLABLE_STATUSES:
        return 0.0
    return prices.hourly_for(state.instance_type)


def cost_since_start(state: CMLWorkerState, prices: CostConfig, now: datetime) -> float:
    """Compute cost of the current run (since the last start)."""
    seconds = uptime_seconds(state, now)
    if seconds is None:
        return 0.0
    return prices.hourly_for(state.instance_type) * seconds / 3600.0
