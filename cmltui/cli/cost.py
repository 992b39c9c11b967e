"""``cmltui cost``: what each worker billed and what automatic stops saved, over local dates.

Dates are ``YYYY-MM-DD`` in the cost zone ([cost] time_zone, else this machine's); without
them, this week so far ([cost] week_starts). Figures come from the recorded lifecycle events
(``cmltui.domain.billing``) and [cost] prices.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from cmltui.cli.output import EXIT_OK, EXIT_USAGE, CliError, iso, out, print_json, print_table
from cmltui.domain.billing import CostFigures
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.names import name_key

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COLUMNS = ("name", "region", "type", "hours_billed", "cost", "saved_by_auto_stop")


def _date(option: str, text: str | None) -> date | None:
    if text is None:
        return None
    value = text.strip()
    try:
        if not _DATE.match(value):
            raise ValueError("not in the form YYYY-MM-DD")
        return date.fromisoformat(value)
    except ValueError as err:
        raise CliError(f"{option} {text!r} is not a date: {err} (YYYY-MM-DD)", EXIT_USAGE) from None


def _row(snapshot: Any, figures: CostFigures, hourly: float) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "name": snapshot.name,
        "region": snapshot.region,
        "instance_type": snapshot.instance_type,
        "status": str(snapshot.status),
        "hourly_usd": hourly,
        "hours_billed": round(figures.billed_hours, 3),
        "cost_usd": round(figures.cost_usd, 2),
        "saved_hours": round(figures.saved_hours, 3),
        "saved_usd": round(figures.saved_usd, 2),
    }


async def cmd_cost(controller, args) -> int:
    zone = controller.cost_zone
    week_start, today = controller.cost_this_week()
    since = _date("--since", args.since) or week_start
    until = _date("--until", args.until) or today
    if since > until:
        raise CliError(f"--since {since} is after --until {until}", EXIT_USAGE)
    now, figures_by_worker = controller.cost_in(since, until)
    rows = []
    total = CostFigures()
    for snapshot, figures in figures_by_worker:
        gone = snapshot.status == CMLWorkerStatus.TERMINATED
        if gone and not (figures.billed_hours or figures.saved_hours):
            continue  # terminated before the period: nothing to say
        total += figures
        rows.append(
            _row(snapshot, figures, controller.config.cost.hourly_for(snapshot.instance_type))
        )
    rows.sort(key=lambda r: (name_key(r["name"]), r["name"], r["id"]))
    totals = {
        "hours_billed": round(total.billed_hours, 3),
        "cost_usd": round(total.cost_usd, 2),
        "saved_hours": round(total.saved_hours, 3),
        "saved_usd": round(total.saved_usd, 2),
    }
    if args.json:
        print_json(
            {
                "time_zone": str(zone),
                "since": since.isoformat(),
                "until": until.isoformat(),
                "as_of": iso(now),
                "workers": rows,
                "total": totals,
            }
        )
        return EXIT_OK
    out(f"cost from {since} to {until} ({zone}), as of now")
    table = [
        {
            "name": r["name"],
            "region": r["region"],
            "type": r["instance_type"],
            "hours_billed": f"{r['hours_billed']:.2f}",
            "cost": f"${r['cost_usd']:,.2f}",
            "saved_by_auto_stop": f"${r['saved_usd']:,.2f}",
        }
        for r in rows
    ]
    table.append(
        {
            "name": "TOTAL",
            "region": "",
            "type": "",
            "hours_billed": f"{totals['hours_billed']:.2f}",
            "cost": f"${totals['cost_usd']:,.2f}",
            "saved_by_auto_stop": f"${totals['saved_usd']:,.2f}",
        }
    )
    print_table(table, _COLUMNS)
    return EXIT_OK
