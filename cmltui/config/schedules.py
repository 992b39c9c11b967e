"""``[schedules]``: named weekly windows in an IANA time zone (see ``cmltui.domain.schedule``)."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator

from cmltui.config.base import Section as _Section

#: Day names of a schedule window, Monday first (Monday is 0, as ``date.weekday``).
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(spec: object) -> tuple[int, ...]:
    """``"mon-fri"``, ``["mon", "wed"]``, ``"fri-mon"`` -> weekday numbers (0 = Monday), sorted;
    ``ValueError`` worded to follow "must" for anything else."""
    items = [spec] if isinstance(spec, str) else spec
    if not isinstance(items, list | tuple) or not items:
        raise ValueError('be day names like ["mon", "wed"] or a range like "mon-fri"')
    days: set[int] = set()
    for item in items:
        first, dash, last = str(item).strip().lower().partition("-")
        if first not in DAY_NAMES or (dash and last not in DAY_NAMES):
            raise ValueError(f'be day names ({", ".join(DAY_NAMES)}) or a range like "mon-fri"')
        start = DAY_NAMES.index(first)
        span = (DAY_NAMES.index(last) - start) % 7 if dash else 0
        days.update((start + step) % 7 for step in range(span + 1))
    return tuple(sorted(days))


class ScheduleWindowConfig(_Section):
    """One weekly window: opens on ``days`` at ``start``; ``end`` at or before ``start`` closes
    the next day (a window across midnight)."""

    days: tuple[int, ...]
    start: time
    end: time

    @field_validator("days", mode="before")
    @classmethod
    def _day_names(cls, value: object) -> tuple[int, ...]:
        return parse_days(value)


class ScheduleConfig(_Section):
    """``[schedules.NAME]``: weekly windows in an IANA time zone (``cmltui.domain.schedule``)."""

    zone: str
    windows: list[ScheduleWindowConfig] = []
    #: Local dates on which no window opens (holidays, exceptions).
    skip_dates: list[date] = []
    #: Minutes before an opening its stopped workers are started; unset: learned per worker.
    lead_minutes: float | None = Field(default=None, ge=0, le=24 * 60)
    #: Stop at the close even while a lab is started.
    force: bool = False
    #: The idle threshold of its workers; unset: [idle] threshold_minutes.
    idle_minutes: int | None = Field(default=None, ge=1)
    #: After a close, a worker nobody has used since the close stops once idle this long
    #: (at most the idle threshold); activity after the close: the idle threshold.
    close_grace_minutes: int = Field(default=5, ge=0, le=24 * 60)

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                'be an IANA time zone name known to this system, like "Europe/Paris" or '
                '"America/New_York"'
            ) from None
        return value

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


class SchedulesConfig(_Section):
    """``[schedules]``: lead-time default, and one ``[schedules.NAME]`` table per schedule."""

    model_config = ConfigDict(extra="allow", frozen=True)
    #: Every key of the table but the settings below is a schedule's name.
    __pydantic_extra__: dict[str, ScheduleConfig] = Field(init=False)
    #: Lead time of a worker whose boot-to-ready time is not known yet.
    default_lead_minutes: float = Field(default=15.0, ge=0, le=24 * 60)

    @property
    def named(self) -> dict[str, ScheduleConfig]:
        return dict(self.model_extra or {})
