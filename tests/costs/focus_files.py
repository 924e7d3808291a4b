"""Building FOCUS CSV files for tests: one dict per row, FOCUS column names, sensible defaults."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ServiceProviderName",
    "ServiceName",
    "ServiceCategory",
    "RegionId",
    "BillingAccountId",
    "SubAccountId",
    "ResourceId",
    "PricingCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "Tags",
)


def focus_row(day: str = "2026-11-03", cost: str = "10.00", **fields: Any) -> dict[str, str]:
    """A usage row of one day in November 2026 on AWS (override any FOCUS column by keyword)."""
    year_month = day[:7]
    row = {
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ListCost": cost,
        "BillingCurrency": "USD",
        "BillingPeriodStart": f"{year_month}-01T00:00:00Z",
        "BillingPeriodEnd": "",
        "ChargePeriodStart": f"{day}T00:00:00Z",
        "ChargePeriodEnd": "",
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ServiceProviderName": "AWS",
        "ServiceName": "Amazon Elastic Compute Cloud",
        "ServiceCategory": "Compute",
        "RegionId": "eu-west-1",
        "BillingAccountId": "111111111111",
        "SubAccountId": "222222222222",
        "ResourceId": "i-0abc",
        "PricingCategory": "Standard",
        "CommitmentDiscountId": "",
        "CommitmentDiscountStatus": "",
        "Tags": "{}",
    }
    for key, value in fields.items():
        row[key] = json.dumps(value) if key == "Tags" and isinstance(value, dict) else value
    if not row["ChargePeriodEnd"]:
        from datetime import date, timedelta

        row["ChargePeriodEnd"] = f"{date.fromisoformat(day) + timedelta(days=1)}T00:00:00Z"
    return row


def focus_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
