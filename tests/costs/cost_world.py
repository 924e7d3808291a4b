"""Cost figures for report, page, API and browser tests, loaded through the real store (``load_period``).

A small bill of the demo teams, in two currencies, with unallocated cost, spread over this month and
last month so the overview (which reads "today") has something to compare.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from costs.choices import SourceKind
from costs.focus import read_focus
from costs.forecast import month_bounds
from costs.models import CostSource
from costs.store import load_period
from tests.costs.focus_files import focus_csv, focus_row

STUDENTS = "student-experience"
PLATFORM = "core-platform"


def load_rows(rows: list[dict[str, str]], source_name: str = "finance-upload") -> None:
    """Load FOCUS rows (any months) through the store, one load per billing month."""
    source, _ = CostSource.objects.get_or_create(name=source_name, defaults={"kind": SourceKind.UPLOAD})
    by_month: dict[date, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_month[date.fromisoformat(row["ChargePeriodStart"][:10]).replace(day=1)].append(row)
    for month, month_rows in sorted(by_month.items()):
        parsed = read_focus(focus_csv(month_rows))
        assert parsed.ok, parsed.errors
        load_period(source, month, parsed.rows)


def row(day: date, cost: str, *, team: str | None = None, **fields: Any) -> dict[str, str]:
    tags = dict(fields.pop("Tags", {}))
    if team is not None:
        tags["portal:team"] = team
    return focus_row(day.isoformat(), cost, Tags=tags, **fields)


def november_bill() -> list[dict[str, str]]:
    """Early November 2026: two teams, two currencies, two clouds, a credit, spot and unallocated cost."""
    nov = [date(2026, 11, day) for day in range(1, 31)]
    return [
        row(nov[0], "100.10", team=STUDENTS),
        row(
            nov[1],
            "50.05",
            team=STUDENTS,
            ServiceName="Amazon Relational Database Service",
            ServiceCategory="Databases",
        ),
        row(nov[1], "3.10", team=STUDENTS, PricingCategory="Dynamic", ListCost="9.30"),
        row(nov[2], "-5.00", team=STUDENTS, ChargeCategory="Credit", ServiceName="", RegionId=""),
        row(nov[0], "20.00", team=PLATFORM, RegionId="us-east-1", SubAccountId="444444444444"),
        row(nov[3], "30.333", team=PLATFORM, ServiceName="Amazon Simple Storage Service"),
        row(
            nov[1],
            "17.25",
            team=PLATFORM,
            BillingCurrency="EUR",
            ServiceProviderName="Microsoft",
            ServiceName="Virtual Machines",
            RegionId="westeurope",
            BillingAccountId="azure-billing-1",
            SubAccountId="sub-1",
        ),
        row(nov[2], "7.77"),  # nobody's: unallocated
        row(
            nov[4],
            "2.5",
            BillingCurrency="EUR",
            ServiceProviderName="Microsoft",
            ServiceName="Storage",
            RegionId="westeurope",
            BillingAccountId="azure-billing-1",
            SubAccountId="sub-2",
        ),
    ]


def recent_bill(today: date) -> list[dict[str, str]]:
    """Daily cost of both teams over last month and this month up to today (the overview's view)."""
    this_start, _ = month_bounds(today)
    last_start, _ = month_bounds(this_start - timedelta(days=1))
    rows = []
    day = last_start
    while day <= today:
        this_month = day >= this_start
        rows.append(row(day, "12.00" if this_month else "10.00", team=STUDENTS))
        rows.append(row(day, "5.00", team=PLATFORM, ServiceName="Amazon Simple Storage Service"))
        rows.append(row(day, "1.00"))  # unallocated
        day += timedelta(days=1)
    return rows


def money(value: str) -> Decimal:
    return Decimal(value)
