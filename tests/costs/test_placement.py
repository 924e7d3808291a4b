"""Where cost is dated: billed (cash) cost on the day it was charged, effective cost as the rows carry it, nothing
after the end of its invoice's billing period; every breakdown read by charge period or by billing period.

The FOCUS specification's own example files (tests/costs/focus_spec/, see its README) are loaded through the
store and read back through the API; each month's figure is checked against DuckDB reading the same file with
the rule the specification states, written out independently below.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.test import Client
from django.urls import reverse
from time_machine import TimeMachineFixture

from costs.choices import SourceKind
from costs.focus import FocusRow, read_focus
from costs.models import CostLineItem, CostSource
from costs.store import load_period, month_start
from portal.demo import Persona
from tests.costs.focus_files import COLUMNS, focus_csv, focus_row

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

BREAKDOWN = reverse("cost-breakdown")
EXPORT = reverse("cost-breakdown-export")
# Copies of the FOCUS specification's example files (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec at 04f8bb3d,
# specification/data/commitment_discount_scenarios/ and specification/data/saas_examples/). The reader requires
# BillingCurrency, which FOCUS makes mandatory but the commitment-discount examples lack: a column of USD (the
# currency their CommitmentDiscountUnit names) was appended to them. Their literal "null"s are empty fields,
# two recurring rows' mistyped hourly ends are fixed, and the SaaS examples' "$10,000.00 " amounts and 4/1/25
# dates are written as FOCUS requires (10000.00, 2025-04-01T00:00:00Z); focus_spec/README.md says which files.
SPEC = Path(__file__).parent / "focus_spec"
SPEC_FILES = sorted(path.name for path in SPEC.glob("*.csv"))
WITH_FREQUENCY = (*COLUMNS, "ChargeFrequency", "ContractedCost")
TOLERANCE = Decimal("0.000001")  # DuckDB divides in floating point; the store in ten decimal places


def load_file(text: str, source_name: str = "finance-upload") -> None:
    """Load a FOCUS file through the store, one load per billing period, as an upload does."""
    parsed = read_focus(text)
    assert parsed.ok, parsed.errors
    source, _ = CostSource.objects.get_or_create(name=source_name, defaults={"kind": SourceKind.UPLOAD})
    by_period: dict[date, list[FocusRow]] = defaultdict(list)
    for row in parsed.rows:
        by_period[month_start(row.billing_period_start)].append(row)
    for period, rows in sorted(by_period.items()):
        load_period(source, period, rows)


def monthly(body: dict[str, Any]) -> dict[str, Decimal]:
    """The API's series summed per period (month), zero months left out."""
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for point in body["series"]:
        sums[point["period"]] += Decimal(point["amount"])
    return {month: amount for month, amount in sums.items() if amount}


def csv_text(response: object) -> str:
    return b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]


def assert_same_months(ours: dict[str, Decimal], expected: dict[str, Decimal]) -> None:
    expected = {month: amount for month, amount in expected.items() if abs(amount) > TOLERANCE}
    assert sorted(ours) == sorted(expected)
    for month, amount in expected.items():
        assert abs(ours[month] - amount) < TOLERANCE, (month, ours[month], amount)


# --- the specification's rule, in DuckDB -----------------------------------------------------------

# FOCUS ChargeFrequency: one-time charges are recorded on the day the cost was incurred, recurring ones on the same
# day of every period; the commitment-discount appendix: an upfront commitment "is billed once during the first
# charge period of the term". So a purchase's, a one-time and a recurring charge's BilledCost is on the day its
# charge period starts; usage-based billed cost and every row's EffectiveCost (the provider puts the amortised
# part of a prepaid purchase on the rows it covers and the purchase's own EffectiveCost at 0) are spread evenly
# over the days of the charge period. No cost is dated after the end (exclusive) of the row's billing period.
PLACED_BY_DAY = """
WITH source AS (
    SELECT CAST(BilledCost AS DECIMAL(24, 10)) AS billed,
           CAST(EffectiveCost AS DECIMAL(24, 10)) AS effective,
           ChargeCategory = 'Purchase' OR ChargeFrequency IN ('One-Time', 'Recurring') AS charged_once,
           CAST(ChargePeriodStart AS TIMESTAMP) AS charge_start,
           CAST(ChargePeriodEnd AS TIMESTAMP) AS charge_end,
           CAST(BillingPeriodEnd AS TIMESTAMP) AS billing_end
    FROM read_csv(?, all_varchar = true, header = true)
),
days AS (  -- a period ending during a day still covers that day
    SELECT billed, effective, charged_once,
           CAST(charge_start AS DATE) AS first_day,
           CAST(charge_end AS DATE) + CASE WHEN charge_end = date_trunc('day', charge_end) THEN 0 ELSE 1 END
               AS charge_end_day,
           CAST(billing_end AS DATE) + CASE WHEN billing_end = date_trunc('day', billing_end) THEN 0 ELSE 1 END
               AS billing_end_day
    FROM source
),
placed AS (
    SELECT billed, effective, charged_once,
           least(first_day, billing_end_day - 1) AS first_day,
           greatest(least(charge_end_day, billing_end_day), least(first_day, billing_end_day - 1) + 1) AS end_day
    FROM days
),
each_day AS (
    SELECT *, CAST(unnest(generate_series(first_day, end_day - 1, INTERVAL 1 DAY)) AS DATE) AS day,
           date_diff('day', first_day, end_day) AS days
    FROM placed
)
SELECT strftime(date_trunc('month', day), '%Y-%m-%d') AS month,
       SUM(CASE WHEN NOT charged_once THEN billed / days WHEN day = first_day THEN billed ELSE 0 END) AS billed,
       SUM(effective / days) AS effective
FROM each_day
GROUP BY 1
"""

# Read by billing period, a month holds what its invoice charged: the rows whose BillingPeriodStart is in it.
BY_INVOICE = """
SELECT strftime(date_trunc('month', CAST(BillingPeriodStart AS TIMESTAMP)), '%Y-%m-%d') AS month,
       SUM(CAST(BilledCost AS DECIMAL(24, 10))) AS billed,
       SUM(CAST(EffectiveCost AS DECIMAL(24, 10))) AS effective
FROM read_csv(?, all_varchar = true, header = true)
GROUP BY 1
"""


def duckdb_months(sql: str, path: Path) -> dict[str, dict[str, Decimal]]:
    """{basis: {month: amount}} as DuckDB computes it from the file."""
    result: dict[str, dict[str, Decimal]] = {"billed": {}, "effective": {}}
    for month, billed, effective in duckdb.execute(sql, [str(path)]).fetchall():
        result["billed"][month] = Decimal(str(billed))
        result["effective"][month] = Decimal(str(effective))
    return result


def test_the_spec_examples_satisfy_the_readers_required_columns_once_copied(demo: None) -> None:
    for name in SPEC_FILES:
        header = next(csv.reader(io.StringIO((SPEC / name).read_text())))
        assert {"BilledCost", "EffectiveCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd"} <= set(
            header
        ), name
        assert read_focus((SPEC / name).read_text()).ok, name


@pytest.mark.parametrize("name", SPEC_FILES)
@pytest.mark.parametrize("period", ["charge", "billing"])
@pytest.mark.parametrize("basis", ["billed", "effective"])
def test_each_month_of_a_spec_example_is_what_the_spec_rule_gives(
    client_for: Callable[[Persona | None], Client], name: str, period: str, basis: str
) -> None:
    path = SPEC / name
    load_file(path.read_text())
    expected = duckdb_months(PLACED_BY_DAY if period == "charge" else BY_INVOICE, path)[basis]
    invoices = duckdb_months(BY_INVOICE, path)["billed"]
    first = min(date.fromisoformat(month) for month in [*expected, *invoices])
    last = max(date.fromisoformat(month) for month in [*expected, *invoices])

    body = (
        client_for(Persona.MANAGER)
        .get(
            BREAKDOWN,
            {
                "by": "provider",
                "from": first.isoformat(),
                "to": (month_start(last + timedelta(days=32)) - timedelta(days=1)).isoformat(),
                "grouping": "month",
                "basis": basis,
                "period": period,
            },
        )
        .json()
    )

    assert_same_months(monthly(body), expected)


def test_nothing_of_a_spec_example_is_dated_after_its_invoices_billing_period(demo: None) -> None:
    for name in SPEC_FILES:
        # The examples bill one unnamed account for the same months: one source may hold such a bill at a time.
        CostSource.objects.all().delete()
        load_file((SPEC / name).read_text(), source_name=name.removesuffix(".csv").replace("_", "-"))
        items = CostLineItem.objects.all()
        assert items, name
        for item in items:
            next_month = month_start(item.billing_period_start + timedelta(days=32))
            assert item.charge_date < next_month, (name, item)


# --- a one-year Savings Plan bought in February ------------------------------------------------------

PLAN_ACCOUNT = "999988887777"
PLAN = "arn:aws:savingsplans::999988887777:savingsplan/sp-1"
DAILY_SHARE = Decimal("1257.60")  # 459,024 over 365 days: what each day's covered usage carries (amortised)


def savings_plan_bill() -> list[dict[str, str]]:
    """The purchase (one row for the year, invoiced in February) and February's and March's covered usage."""
    purchase = focus_row(
        "2026-02-01",
        "459024.00",
        EffectiveCost="0",
        ListCost="459024.00",
        ChargeCategory="Purchase",
        ChargeFrequency="One-Time",
        ChargePeriodEnd="2027-02-01T00:00:00Z",
        BillingPeriodEnd="2026-03-01T00:00:00Z",
        PricingCategory="",
        ServiceName="Savings Plans for AWS Compute usage",
        CommitmentDiscountId=PLAN,
        ResourceId=PLAN,
        BillingAccountId=PLAN_ACCOUNT,
    )
    usage = [
        focus_row(
            day.isoformat(),
            "0",
            EffectiveCost=str(DAILY_SHARE),
            ListCost="1800.00",
            ChargeFrequency="Usage-Based",
            PricingCategory="Committed",
            CommitmentDiscountId=PLAN,
            CommitmentDiscountStatus="Used",
            BillingAccountId=PLAN_ACCOUNT,
        )
        for day in (date(2026, 2, 1) + timedelta(days=n) for n in range(28 + 31))
    ]
    return [purchase, *usage]


def test_a_savings_plan_is_billed_in_full_in_the_month_it_was_bought(
    client_for: Callable[[Persona | None], Client],
) -> None:
    load_file(focus_csv(savings_plan_bill(), WITH_FREQUENCY))
    manager = client_for(Persona.MANAGER)
    year = {"from": "2026-01-01", "to": "2027-03-31", "grouping": "month", "billing_account": PLAN_ACCOUNT}

    billed = monthly(manager.get(BREAKDOWN, {**year, "basis": "billed"}).json())
    effective = monthly(manager.get(BREAKDOWN, {**year, "basis": "effective"}).json())

    assert billed == {"2026-02-01": Decimal("459024")}
    assert effective == {"2026-02-01": DAILY_SHARE * 28, "2026-03-01": DAILY_SHARE * 31}
    purchase_days = CostLineItem.objects.filter(charge_category="purchase").values_list("charge_date", flat=True)
    assert list(purchase_days) == [date(2026, 2, 1)]
    assert not CostLineItem.objects.filter(billing_period_start=date(2026, 2, 1), charge_date__gte=date(2026, 3, 1))


def test_a_monthly_recurring_fee_is_billed_on_its_first_day_and_amortised_over_the_month(
    client_for: Callable[[Persona | None], Client],
) -> None:
    fee = focus_row(
        "2026-02-01",
        "280.00",
        ChargeFrequency="Recurring",
        ChargePeriodEnd="2026-03-01T00:00:00Z",
        ServiceName="AWS Support (Business)",
        BillingAccountId=PLAN_ACCOUNT,
    )
    load_file(focus_csv([fee], WITH_FREQUENCY))
    february = {"from": "2026-02-01", "to": "2026-02-28", "billing_account": PLAN_ACCOUNT}
    manager = client_for(Persona.MANAGER)

    billed = manager.get(BREAKDOWN, {**february, "basis": "billed"}).json()["series"]
    effective = manager.get(BREAKDOWN, {**february, "basis": "effective"}).json()["series"]

    assert [(point["period"], point["amount"]) for point in billed if Decimal(point["amount"])] == [
        ("2026-02-01", "280.00")
    ]
    assert {point["amount"] for point in effective} == {"10.00"}
    assert len(effective) == 28


# --- a correction in June's invoice for May ------------------------------------------------------

ACCOUNTS = ("111111111111", "555566667777")


def may_and_june_invoices() -> list[dict[str, str]]:
    """Two billing accounts' May and June usage; June's invoice of the first also corrects May (a refund)."""
    rows = []
    for account, daily in zip(ACCOUNTS, ("10.00", "4.00"), strict=True):
        for month, days in ((5, 31), (6, 30)):
            rows += [
                focus_row(f"2026-{month:02d}-{day:02d}", daily, BillingAccountId=account) for day in range(1, days + 1)
            ]
    correction = focus_row(
        "2026-05-10",
        "-40.00",
        ChargeCategory="Adjustment",
        ChargeClass="Correction",
        BillingPeriodStart="2026-06-01T00:00:00Z",
        BillingPeriodEnd="2026-07-01T00:00:00Z",
        BillingAccountId=ACCOUNTS[0],
    )
    return [*rows, correction]


def invoice_totals(rows: list[dict[str, str]], period_start: str) -> dict[str, Decimal]:
    """Each billing account's invoice: the sum of BilledCost of its rows of that billing period."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row["BillingPeriodStart"].startswith(period_start):
            totals[row["BillingAccountId"]] += Decimal(row["BilledCost"])
    return dict(totals)


def test_a_correction_is_in_may_by_charge_period_and_in_junes_invoice_by_billing_period(
    client_for: Callable[[Persona | None], Client],
) -> None:
    rows = may_and_june_invoices()
    load_file(focus_csv(rows))
    manager = client_for(Persona.MANAGER)
    months = {"from": "2026-05-01", "to": "2026-06-30", "grouping": "month", "basis": "billed"}

    by_charge = monthly(manager.get(BREAKDOWN, {**months, "period": "charge"}).json())
    by_invoice = monthly(manager.get(BREAKDOWN, {**months, "period": "billing"}).json())

    assert by_charge == {"2026-05-01": Decimal("394.00"), "2026-06-01": Decimal("420.00")}
    assert by_invoice == {"2026-05-01": Decimal("434.00"), "2026-06-01": Decimal("380.00")}


def test_june_read_by_billing_period_equals_each_accounts_invoice(
    client_for: Callable[[Persona | None], Client],
) -> None:
    rows = may_and_june_invoices()
    load_file(focus_csv(rows))
    manager = client_for(Persona.MANAGER)
    june = {"from": "2026-06-01", "to": "2026-06-30", "by": "billing_account", "basis": "billed", "period": "billing"}

    body = manager.get(BREAKDOWN, june).json()
    export = list(csv.DictReader(io.StringIO(csv_text(manager.get(EXPORT, june)))))
    by_charge_class = manager.get(BREAKDOWN, {**june, "by": "charge_class"}).json()

    invoices = invoice_totals(rows, "2026-06")
    assert invoices == {ACCOUNTS[0]: Decimal("260.00"), ACCOUNTS[1]: Decimal("120.00")}
    assert {row["key"]: Decimal(row["amount"]) for row in body["rows"]} == invoices
    assert (body["period"], body["from"], body["grouping"]) == ("billing", "2026-06-01", "month")
    assert {row["billing_account"]: Decimal(row["billed_cost"]) for row in export} == invoices
    assert {(row["key"], row["name"], row["amount"]) for row in by_charge_class["rows"]} == {
        ("correction", "Correction", "-40.00"),
        ("-", "Regular", "420.00"),
    }


def test_the_export_read_by_charge_period_puts_the_correction_in_may(
    client_for: Callable[[Persona | None], Client],
) -> None:
    load_file(focus_csv(may_and_june_invoices()))
    manager = client_for(Persona.MANAGER)
    params = {"from": "2026-05-01", "to": "2026-06-30", "by": "charge_class", "rows": "series", "grouping": "month"}

    lines = list(csv.DictReader(io.StringIO(csv_text(manager.get(EXPORT, params)))))

    corrections = [(line["period_start"], Decimal(line["effective_cost"])) for line in lines if line["charge_class"]]
    assert corrections == [("2026-05-01", Decimal("-40.00"))]


def test_a_page_reads_the_breakdown_by_billing_period(client_for: Callable[[Persona | None], Client]) -> None:
    load_file(focus_csv(may_and_june_invoices()))

    page = client_for(Persona.MANAGER).get(
        reverse("costs:breakdown"),
        {"from": "2026-06-01", "to": "2026-06-30", "by": "billing_account", "basis": "billed", "period": "billing"},
    )

    assert page.status_code == 200
    text = page.content.decode()
    assert "Invoices of Jun 2026 (by billing period" in text
    assert [total.amount for total in page.context["result"].totals] == [Decimal("380.00")]


def test_an_unknown_period_is_a_400_naming_the_choices(client_for: Callable[[Persona | None], Client]) -> None:
    response = client_for(Persona.MANAGER).get(BREAKDOWN, {"period": "fiscal"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "period": ["Read costs by charge period (when incurred) or billing period (invoice), not fiscal."]
    }


# --- "so far" stops at today ---------------------------------------------------------------------------


@pytest.fixture
def november_20th(time_machine: TimeMachineFixture) -> None:
    time_machine.move_to(datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False)


def month_of_usage(team: str) -> dict[str, str]:
    """November's usage as one monthly row: 30.00 over 30 days, so 1.00 a day, tomorrow's included."""
    return focus_row(
        "2026-11-01",
        "30.00",
        ChargeFrequency="Usage-Based",
        ChargePeriodEnd="2026-12-01T00:00:00Z",
        Tags={"portal:team": team},
    )


def test_this_month_so_far_leaves_out_tomorrows_cost(
    november_20th: None, client_for: Callable[[Persona | None], Client]
) -> None:
    load_file(focus_csv([month_of_usage("student-experience")], WITH_FREQUENCY))

    overview = client_for(Persona.MANAGER).get(reverse("costs:overview")).context["overview"]

    assert [(month.currency, month.this_month) for month in overview.months] == [("USD", Decimal("20.00"))]


def test_the_team_page_spend_so_far_leaves_out_tomorrows_cost(
    november_20th: None, client_for: Callable[[Persona | None], Client]
) -> None:
    load_file(focus_csv([month_of_usage("student-experience")], WITH_FREQUENCY))

    page = client_for(Persona.MANAGER).get(reverse("costs:team", args=["student-experience"]))

    assert [(row["currency"], row["total"]) for row in page.context["by_service"]] == [("USD", Decimal("20.00"))]
    assert page.context["forecasts"]["USD"].actual == Decimal("19.00")  # complete days: to yesterday


# --- commitments: charge class, commitment status, contracted cost ---------------------------------------


def committed_usage() -> list[dict[str, str]]:
    """November: used and unused commitment hours, on-demand usage with a negotiated price, spot."""
    return [
        focus_row(
            "2026-11-03",
            "0",
            EffectiveCost="6.00",
            ListCost="10.00",
            ContractedCost="9.00",
            PricingCategory="Committed",
            CommitmentDiscountStatus="Used",
            CommitmentDiscountId=PLAN,
        ),
        focus_row(
            "2026-11-03",
            "0",
            EffectiveCost="2.00",
            ListCost="0",
            ContractedCost="0",
            PricingCategory="Committed",
            CommitmentDiscountStatus="Unused",
            CommitmentDiscountId=PLAN,
            ResourceId=PLAN,
        ),
        focus_row("2026-11-04", "9.00", ListCost="10.00", ContractedCost="9.00"),
    ]


def test_commitment_status_breaks_down_and_filters_and_contracted_cost_is_a_basis(
    client_for: Callable[[Persona | None], Client],
) -> None:
    load_file(focus_csv(committed_usage(), WITH_FREQUENCY))
    manager = client_for(Persona.MANAGER)
    november = {"from": "2026-11-01", "to": "2026-11-30", "by": "commitment_discount_status"}

    def amounts(**params: str) -> dict[str, str]:
        body = manager.get(BREAKDOWN, {**november, **params}).json()
        return {row["key"]: row["amount"] for row in body["rows"]}

    assert amounts() == {"used": "6.00", "unused": "2.00", "-": "9.00"}
    assert amounts(basis="contracted") == {"used": "9.00", "unused": "0.00", "-": "9.00"}
    assert amounts(basis="list") == {"used": "10.00", "unused": "0.00", "-": "10.00"}
    assert amounts(commitment_discount_status="unused") == {"unused": "2.00"}
    names = {row["key"]: row["name"] for row in manager.get(BREAKDOWN, november).json()["rows"]}
    assert names == {"used": "Used", "unused": "Unused", "-": "(no commitment discount)"}


def test_without_a_contracted_cost_column_contracted_cost_is_the_list_cost(
    client_for: Callable[[Persona | None], Client],
) -> None:
    load_file(focus_csv([focus_row("2026-11-04", "9.00", ListCost="12.00")]))  # no ContractedCost column

    body = client_for(Persona.MANAGER).get(
        BREAKDOWN, {"from": "2026-11-01", "to": "2026-11-30", "by": "provider", "basis": "contracted"}
    )

    assert body.json()["totals"][0]["amount"] == "12.00"


def test_the_overview_offers_contracted_cost(client_for: Callable[[Persona | None], Client]) -> None:
    page = client_for(Persona.MANAGER).get(reverse("costs:overview"), {"basis": "contracted"})

    assert page.status_code == 200
    assert page.context["basis"] == "contracted"
    assert 'value="contracted" selected' in page.content.decode()


def test_the_team_page_reads_this_months_invoices_with_the_correction_of_last_month(
    time_machine: TimeMachineFixture, client_for: Callable[[Persona | None], Client]
) -> None:
    time_machine.move_to(datetime(2026, 6, 20, 12, tzinfo=UTC), tick=False)
    team = {"portal:team": "student-experience"}
    rows = [
        focus_row("2026-05-10", "10.00", Tags=team),
        focus_row("2026-06-02", "7.00", Tags=team),
        focus_row(
            "2026-05-10",
            "-4.00",
            ChargeCategory="Adjustment",
            ChargeClass="Correction",
            BillingPeriodStart="2026-06-01T00:00:00Z",
            Tags=team,
        ),
    ]
    load_file(focus_csv(rows))
    manager = client_for(Persona.MANAGER)

    def spend(reading: str) -> list[tuple[str, Decimal]]:
        page = manager.get(reverse("costs:team", args=["student-experience"]), {"basis": "billed", "reading": reading})
        return [(row["currency"], row["total"]) for row in page.context["by_service"]]

    assert spend("charge") == [("USD", Decimal("7.00"))]
    assert spend("billing") == [("USD", Decimal("3.00"))]
    export = manager.get(
        reverse("costs:team_export", args=["student-experience"]), {"basis": "billed", "reading": "billing"}
    )
    lines = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert {(line["by"], line["read_by"], Decimal(line["amount"])) for line in lines} == {
        ("service", "billing", Decimal("3.00")),
        ("environment", "billing", Decimal("3.00")),
    }
