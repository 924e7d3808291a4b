"""The reader checks what rows repeat once per distinct value; every file reads exactly as when each row is checked
in full (``FocusReader(..., fast=False)``, the row-by-row reading): the same day rows, the same line items, load
totals and rollups once stored, and the same line-numbered errors for a file with bad rows. The store writes
each day row's values as they are (text with backslashes, tabs and newlines, tags, amounts, owners)."""

from __future__ import annotations

import gzip
import io
import logging
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from access.models import Team
from costs.choices import SourceKind
from costs.focus import FocusReader, InputLimits, open_focus
from costs.models import CostLineItem, CostLoad, CostRollup, CostSource
from costs.store import Attributor, InvalidFocusFile, load_focus_file, load_period
from tests.costs.focus_files import COLUMNS, focus_csv, focus_row

SPEC = Path(__file__).parent / "focus_spec"
WITH_FREQUENCY = (*COLUMNS, "ChargeFrequency", "ContractedCost")


def mixed_month(*, short_row: bool = True) -> str:
    """November 2026: daily and hourly usage, multi-day and cut-off charge periods, purchases, recurring fees,
    corrections, tags, three currencies, empty list and contracted costs, short rows and untrimmed values."""
    rows: list[dict[str, str]] = []
    for n in range(600):
        day = f"2026-11-{n % 30 + 1:02d}"
        team = {"portal:team": f"team-{n % 4}"} if n % 5 else {}
        rows.append(
            focus_row(
                day,
                f"{n % 97}.{n % 100:02d}",
                ResourceId=f" r-{n % 37} ",
                RegionId=["eu-west-1", "US-EAST-1", "westeurope"][n % 3],
                BillingCurrency=["USD", "eur", "GBP"][n % 3],
                ServiceProviderName=["AWS", "Microsoft", "On-prem"][n % 3],
                SubAccountId=f"{200000000000 + n % 6}",
                Tags=team,
                ListCost="" if n % 7 == 0 else f"{n % 97 + 1}.5",
                ContractedCost="" if n % 3 else f"{n % 97}.25",
                ChargeFrequency="Usage-Based",
            )
        )
        if n % 11 == 0:  # an hour of usage
            rows.append(
                focus_row(
                    day,
                    "0.0123",
                    ChargePeriodStart=f"{day}T13:00:00Z",
                    ChargePeriodEnd=f"{day}T14:00:00Z",
                    ChargeFrequency="Usage-Based",
                )
            )
    rows += [
        focus_row("2026-11-01", "300.00", ChargePeriodEnd="2026-12-01T00:00:00Z", ChargeFrequency="Recurring"),
        focus_row("2026-11-10", "70.01", ChargePeriodEnd="2026-11-17T00:00:00Z", ChargeFrequency="Usage-Based"),
        focus_row(
            "2026-11-20",
            "99.99",
            ChargePeriodEnd="2026-12-05T00:00:00Z",
            ChargeFrequency="Usage-Based",
            Tags={"portal:team": "team-1", "env": "prod"},
        ),
        focus_row(
            "2026-11-05",
            "1200.00",
            EffectiveCost="0",
            ChargeCategory="Purchase",
            ChargePeriodEnd="2027-11-05T00:00:00Z",
            ChargeFrequency="One-Time",
            CommitmentDiscountId="sp-1",
        ),
        focus_row(
            "2026-10-28",
            "-4.20",
            ChargeClass="Correction",
            ChargePeriodEnd="2026-10-29T00:00:00Z",
            ChargeFrequency="Usage-Based",
            BillingPeriodStart="2026-11-01T00:00:00Z",
        ),
        focus_row(
            "2026-11-16",
            "2.50",
            ResourceId="arn:bucket\\logs\tcopy",
            Tags={"portal:team": "team-2", "owner": 'Zoë \\ "ops"\nnight'},
            ChargeFrequency="Usage-Based",
        ),
        focus_row(
            "2026-11-15",
            "5.00",
            CommitmentDiscountId="ri-9",
            CommitmentDiscountStatus="Used",
            PricingCategory="Committed",
            ChargeFrequency="Usage-Based",
        ),
    ]
    text = focus_csv(rows, WITH_FREQUENCY)
    if not short_row:
        return text
    lines = text.splitlines(keepends=True)
    lines.insert(5, lines[4].rsplit(",", 3)[0] + "\n")  # a row with its last columns left off
    return "".join(lines)


def day_rows(text: str, *, fast: bool) -> tuple[list[Any], list[Any], int, int]:
    reader = FocusReader(text, fast=fast)
    rows = list(reader)
    return rows, reader.errors, reader.lines, reader.bad_rows


def benchmark_month(tmp_path: Path) -> str:
    """The benchmark's generated month at its smoke size (2,000 resources' daily rows, a tenth without a team)."""
    from bench import bench_costs

    path = tmp_path / "bench.csv"
    bench_costs._write_file(path)
    return path.read_text()


FILES = {
    **{path.name: path.read_text() for path in sorted(SPEC.glob("*.csv"))},
    "mixed month": mixed_month(),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_file_reads_as_when_each_row_is_checked_in_full(name: str) -> None:
    fast = day_rows(FILES[name], fast=True)
    assert fast == day_rows(FILES[name], fast=False)
    assert fast[0]
    assert not fast[1]


def test_the_benchmarks_month_reads_as_when_each_row_is_checked_in_full(tmp_path: Path) -> None:
    text = benchmark_month(tmp_path)
    fast = day_rows(text, fast=True)
    assert fast == day_rows(text, fast=False)
    assert len(fast[0]) == fast[2] > 1000


def with_line(text: str, number: int, change: Any) -> str:
    lines = text.splitlines(keepends=True)
    lines[number - 1] = change(lines[number - 1])
    return "".join(lines)


@pytest.mark.parametrize(
    "damage",
    [
        # A repeated charge whose amount is bad: only the amounts are left to check.
        lambda line: line.replace(",USD,", ",US,", 1),
        lambda line: "abc," + line.split(",", 1)[1],
        lambda line: "1e400," + line.split(",", 1)[1],
        lambda line: "," + line.split(",", 1)[1],
        # A repeated value broken, with a bad amount too: the first rule the row breaks is named.
        lambda line: "x," + line.replace("T00:00:00Z", "T00:00:00+01:00", 1).split(",", 1)[1],
        lambda line: line.replace("Usage-Based", "Sometimes"),
        # A new charge period of a service and account seen on other days.
        lambda line: line.replace("T00:00:00Z,2026-11", "T00:00:00Z,1999-11", 1),
        lambda line: line.replace("T00:00:00Z", "T25:00:00Z"),
        lambda line: line.replace("eu-west-1", "e" * 65),
        lambda line: line + "extra,fields,beyond,the,header\n",
    ],
)
def test_a_bad_row_gives_the_errors_of_the_row_by_row_reading(damage: Any) -> None:
    text = mixed_month()
    for number in (3, 40, 41, 400):
        text = with_line(text, number, lambda line: damage(line) if line.endswith("\n") else line)
    fast = day_rows(text, fast=True)
    assert fast[1:] == day_rows(text, fast=False)[1:]
    assert fast[1]


def in_order(item: tuple[Any, ...]) -> str:
    """A line item's sort key, amounts compared at the store's ten places (0 and 0E-10 are one amount)."""
    return repr([f"{value:.10f}" if isinstance(value, Decimal) else value for value in item])


def stored(source: CostSource) -> tuple[list[tuple[Any, ...]], list[Any], list[tuple[Any, ...]]]:
    columns = [field.name for field in CostLineItem._meta.concrete_fields if field.name not in {"id", "load"}]
    items = sorted(CostLineItem.objects.filter(load__source=source).values_list(*columns), key=in_order)
    loads = list(
        CostLoad.objects.filter(source=source)
        .order_by("billing_period_start")
        .values_list("billing_period_start", "line_items", "totals", "coverage")
    )
    rollup_columns = [field.name for field in CostRollup._meta.concrete_fields if field.name != "id"]
    rollups = sorted(CostRollup.objects.values_list(*rollup_columns), key=repr)
    return items, loads, rollups


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["mixed month", *sorted(path.name for path in SPEC.glob("*.csv"))])
def test_a_file_stores_the_same_line_items_totals_and_rollups(name: str) -> None:
    for n in range(3):
        Team.objects.create(slug=f"team-{n}", name=f"Team {n}")
    source = CostSource.objects.create(name="upload", kind=SourceKind.UPLOAD)
    periods = sorted({row.billing_period_start for row in FocusReader(FILES[name])})
    found = []
    for fast in (True, False):
        for period in periods:
            rows = (row for row in FocusReader(FILES[name], fast=fast) if row.billing_period_start == period)
            load_period(source, period, rows)
        found.append(stored(source))
    assert found[0] == found[1]
    assert found[0][0]
    assert found[0][2]
    attributor = Attributor()
    expected = []
    for row in FocusReader(FILES[name], fast=False):
        owner = attributor.owner(row.tags, row.billing_account_id, row.sub_account_id)
        expected.append(
            (
                row.charge_date,
                row.billing_period_start,
                row.charge_category,
                row.charge_class,
                row.provider,
                row.service_name,
                row.service_category,
                row.region_code,
                row.billing_account_id,
                row.sub_account_id,
                row.resource_id,
                row.pricing_category,
                row.commitment_discount_id,
                row.commitment_discount_status,
                row.tags,
                row.billed_cost,
                row.effective_cost,
                row.list_cost,
                row.contracted,
                row.currency,
                owner.team,
                owner.environment,
                owner.service,
                owner.cluster,
            )
        )
    assert found[0][0] == sorted(expected, key=in_order)


# The bulk reader (costs.bulk) reads whole files column by column; every file it reads stores what the row reader
# stores. The mixed month without its short row is read in bulk throughout: its multi-day charges, untrimmed
# identifiers and empty list costs go through the row reader's rules one by one, inside the bulk load.
BULK_FILES = {
    **{path.name: path.read_text() for path in sorted(SPEC.glob("*.csv"))},
    "mixed month": mixed_month(short_row=False),
    "mixed month, gzip": mixed_month(short_row=False),
}


def load_file(source: CostSource, data: bytes) -> None:
    for period in sorted({row.billing_period_start for row in FocusReader(data.decode())}):
        load_focus_file(source, period, lambda: io.BytesIO(data))


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(BULK_FILES))
def test_a_file_loaded_in_bulk_stores_what_the_row_reader_stores(name: str, caplog: pytest.LogCaptureFixture) -> None:
    for n in range(3):
        Team.objects.create(slug=f"team-{n}", name=f"Team {n}")
    text = BULK_FILES[name]
    bulk = CostSource.objects.create(name="bulk", kind=SourceKind.UPLOAD)
    data = gzip.compress(text.encode()) if name.endswith("gzip") else text.encode()
    with caplog.at_level(logging.INFO, logger="costs.store"):
        for period in sorted({row.billing_period_start for row in FocusReader(text)}):
            load_focus_file(bulk, period, lambda: io.BytesIO(data))
    assert "row by row" not in caplog.text
    found_in_bulk = stored(bulk)
    CostLoad.objects.filter(source=bulk).delete()
    by_row = CostSource.objects.create(name="by row", kind=SourceKind.UPLOAD)
    for period in sorted({row.billing_period_start for row in FocusReader(text)}):
        load_period(
            by_row, period, (row for row in FocusReader(text, fast=False) if row.billing_period_start == period)
        )
    assert found_in_bulk == stored(by_row)
    assert found_in_bulk[0]
    assert found_in_bulk[2]


@pytest.mark.django_db
def test_the_benchmarks_month_loaded_in_bulk_stores_what_the_row_reader_stores(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = benchmark_month(tmp_path)
    for n in range(12):
        Team.objects.create(slug=f"bench-team-{n}", name=f"Bench team {n}")
    bulk = CostSource.objects.create(name="bulk", kind=SourceKind.UPLOAD)
    with caplog.at_level(logging.INFO, logger="costs.store"):
        load = load_focus_file(bulk, date(2026, 10, 1), lambda: io.BytesIO(text.encode()))
    assert "row by row" not in caplog.text
    found_in_bulk = stored(bulk)
    CostLoad.objects.filter(source=bulk).delete()
    by_row = CostSource.objects.create(name="by row", kind=SourceKind.UPLOAD)
    load_period(by_row, date(2026, 10, 1), FocusReader(text, fast=False))
    assert found_in_bulk == stored(by_row)
    assert load.line_items == len(found_in_bulk[0]) > 1000


@pytest.mark.django_db
@pytest.mark.parametrize(
    "damage",
    [
        lambda line: "abc," + line.split(",", 1)[1],
        lambda line: line.replace("T00:00:00Z", "T00:00:00+01:00", 1),
        lambda line: line.replace("Usage-Based", "Sometimes"),
        lambda line: line.replace("eu-west-1", "e" * 65),
        lambda line: line + "extra,fields,beyond,the,header\n",
        lambda line: line.replace("USD", "US\x00", 1),
    ],
)
def test_a_bad_file_loaded_in_bulk_is_refused_with_the_row_readers_errors_and_loads_nothing(damage: Any) -> None:
    text = mixed_month(short_row=False)
    for number in (3, 40, 41, 400):
        text = with_line(text, number, lambda line: damage(line) if line.endswith("\n") else line)
    source = CostSource.objects.create(name="bulk", kind=SourceKind.UPLOAD)
    with pytest.raises(InvalidFocusFile) as refused:
        load_focus_file(source, date(2026, 11, 1), lambda: io.BytesIO(text.encode()))
    reader = open_focus(io.BytesIO(text.encode()))  # the row reader, reading the file's bytes
    list(reader)
    assert refused.value.errors == reader.errors
    assert refused.value.errors
    assert not CostLineItem.objects.exists()
    assert not CostRollup.objects.exists()


@pytest.mark.django_db
def test_a_file_over_the_row_limit_is_refused_by_line_as_the_row_reader_refuses_it() -> None:
    text = mixed_month(short_row=False)
    source = CostSource.objects.create(name="bulk", kind=SourceKind.UPLOAD)
    with pytest.raises(InvalidFocusFile) as refused:
        load_focus_file(
            source, date(2026, 11, 1), lambda: io.BytesIO(text.encode()), limits=InputLimits(10 * 1024 * 1024, 100)
        )
    assert [str(error) for error in refused.value.errors] == [
        "line 102: the file has more than 100 rows; files of up to 100 are accepted"
    ]
    assert not CostLineItem.objects.exists()
