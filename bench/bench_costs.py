"""The cost store at 10 million FOCUS line items: import next to a plain ``COPY``, breakdowns next to DuckDB.

One month of FOCUS rows (``BENCH_COST_ROWS``, default 10,000,000; 5,000 at smoke size) is written
to a CSV file. Import: the portal's load (parse, validate, attribute, COPY,
rebuild the rollups) against PostgreSQL's own ``COPY`` of the same file into
a table of the same columns, which does none of that. The baseline table is
an ordinary one, kept and written to the WAL as the store's line items must
be; the rate against a ``COPY`` into a temporary table (no WAL, gone with the
session) is printed too. The same rows written as Parquet (decimal amounts,
UTC timestamps) are then loaded again, and must give the same totals.
Queries: the breakdowns the cost pages ask for (month total, by team, by
service, by region, the daily trend), read from the rollups, against DuckDB
running the same aggregations over the same file, and against PostgreSQL
aggregating the line items themselves (what the rollups save). It asserts
that every answer agrees to the cent and that both files were read in bulk,
never a time.
"""

from __future__ import annotations

import csv
import json
import logging
import random
import resource
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.db.models import QuerySet, Sum

from access.models import Team, User
from bench.report import best_of, report, timed
from bench.sizes import size
from costs import reports
from costs.choices import SourceKind
from costs.focus import InputLimits
from costs.models import CostLineItem, CostLoad, CostRollup, CostSource
from costs.store import load_focus_file, rewound

ROWS = size("BENCH_COST_ROWS", full=10_000_000, smoke=5_000)
TEAMS = 12
COMBINATIONS = 2000
RUNS = 3
PERIOD = date(2026, 10, 1)
DAYS = 31

SERVICES = [
    ("Amazon Elastic Compute Cloud", "Compute"),
    ("Amazon Elastic Kubernetes Service", "Compute"),
    ("Amazon Relational Database Service", "Databases"),
    ("Amazon ElastiCache", "Databases"),
    ("Amazon Simple Storage Service", "Storage"),
    ("AWS Key Management Service", "Security"),
    ("Amazon Virtual Private Cloud", "Networking"),
    ("Azure Kubernetes Service", "Compute"),
    ("Azure Database for PostgreSQL", "Databases"),
    ("Storage", "Storage"),
]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-2", "westeurope", "australiaeast", "eastus"]
PRICING = ["Standard", "Standard", "Standard", "Dynamic", "Committed"]

HEADER = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ServiceProviderName",
    "ServiceName",
    "ServiceCategory",
    "RegionId",
    "BillingAccountId",
    "SubAccountId",
    "ResourceId",
    "PricingCategory",
    "Tags",
]


def _write_file(path: Path) -> None:
    """``ROWS`` rows of one month: resources of 2,000 combinations of account, region, service, team, pricing."""
    rng = random.Random(7)  # noqa: S311 - made-up costs, not secrets
    combinations = []
    for n in range(COMBINATIONS):
        service, category = SERVICES[n % len(SERVICES)]
        provider = "Microsoft" if service.startswith(("Azure", "Storage")) else "AWS"
        owner = {"portal:team": f"bench-team-{n % TEAMS}"} if n % 10 else {}  # a tenth unallocated
        combinations.append(
            [
                "USD",
                f"{PERIOD}T00:00:00Z",
                "Usage",
                provider,
                service,
                category,
                REGIONS[n % len(REGIONS)],
                f"{100000000000 + n % 10}",
                f"{200000000000 + n % 40}",
                PRICING[n % len(PRICING)],
                json.dumps(owner),
            ]
        )
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for n in range(ROWS):
            (currency, period, category, provider, service, service_category, region, account, sub, pricing, tags) = (
                combinations[n % COMBINATIONS]
            )
            day = n // (ROWS // DAYS + 1) + 1
            cents = rng.randrange(1, 100000)
            billed = f"{cents // 100}.{cents % 100:02d}"
            writer.writerow(
                [
                    billed,
                    billed,
                    billed,
                    currency,
                    period,
                    f"{PERIOD.replace(day=day)}T00:00:00Z",
                    f"{PERIOD.replace(day=day + 1) if day < DAYS else date(2026, 11, 1)}T00:00:00Z",
                    category,
                    provider,
                    service,
                    service_category,
                    region,
                    account,
                    sub,
                    f"r-{n % 400000}",
                    pricing,
                    tags,
                ]
            )


def _write_parquet(path: Path, parquet: Path) -> None:
    """The CSV file's rows as Parquet, typed as the exporters type them: decimal amounts, UTC timestamps, text."""
    types = {
        **dict.fromkeys(HEADER, pa.string()),
        **dict.fromkeys(("BilledCost", "EffectiveCost", "ListCost"), pa.decimal128(24, 10)),
        **dict.fromkeys(("BillingPeriodStart", "ChargePeriodStart", "ChargePeriodEnd"), pa.timestamp("ms", "UTC")),
    }
    reader = pa_csv.open_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types))
    with pq.ParquetWriter(parquet, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


PLAIN_TABLE = """
CREATE {kind} TABLE bench_focus_copy (
    billed_cost numeric(24, 10), effective_cost numeric(24, 10), list_cost numeric(24, 10), currency varchar(3),
    billing_period_start timestamptz, charge_period_start timestamptz, charge_period_end timestamptz,
    charge_category text, provider text, service_name text, service_category text, region_code text,
    billing_account_id text, sub_account_id text, resource_id text, pricing_category text, tags jsonb
)
"""


def _plain_copy(path: Path, kind: str = "") -> float:
    """Seconds PostgreSQL takes to ``COPY`` the file into a table of its columns (``kind`` ``TEMPORARY``: one
    that writes no WAL and is gone at the end of the session)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_focus_copy")
        cursor.execute(PLAIN_TABLE.format(kind=kind))
        with (
            timed() as watch,
            path.open() as source,
            cursor.cursor.copy("COPY bench_focus_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        cursor.execute("DROP TABLE bench_focus_copy")
    return watch.seconds


def _queries(items: QuerySet[Any], day: str) -> dict[str, Callable[[], dict[str, Decimal]]]:
    """The five breakdowns, each one query, over rollups or line items (``day`` is the day column)."""
    teams = dict(Team.objects.values_list("id", "slug"))

    def by(column: str, name: Callable[[Any], str] = str) -> Callable[[], dict[str, Decimal]]:
        def run() -> dict[str, Decimal]:
            grouped = items.values(column).annotate(total=Sum("effective_cost")).values_list(column, "total")
            return {name(key): total for key, total in grouped}

        return run

    return {
        "month total": lambda: {"all": items.aggregate(total=Sum("effective_cost"))["total"]},
        "by team": by("team", lambda team: teams.get(team, "")),
        "by service": by("service_name"),
        "by region": by("region_code"),
        "daily trend": by(day),
    }


def _answers(queries: dict[str, Callable[[], dict[str, Decimal]]]) -> dict[str, dict[str, Decimal]]:
    return {name: query() for name, query in queries.items()}


DUCKDB_QUERIES = {
    "month total": "SELECT 'all', SUM(EffectiveCost) FROM focus",
    "by team": "SELECT COALESCE(json_extract_string(Tags, '$.\"portal:team\"'), ''), SUM(EffectiveCost) "
    "FROM focus GROUP BY 1",
    "by service": "SELECT ServiceName, SUM(EffectiveCost) FROM focus GROUP BY 1",
    "by region": "SELECT RegionId, SUM(EffectiveCost) FROM focus GROUP BY 1",
    "daily trend": "SELECT CAST(CAST(ChargePeriodStart AS TIMESTAMP) AS DATE)::VARCHAR, SUM(EffectiveCost) "
    "FROM focus GROUP BY 1",
}


def _duckdb(path: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose view ``focus`` reads the CSV file itself on every query."""
    database = duckdb.connect()
    database.execute(
        f"CREATE VIEW focus AS SELECT * FROM read_csv('{path}', header = true, "  # noqa: S608 - our own temp file
        "types = {'EffectiveCost': 'DECIMAL(18, 2)', 'ChargePeriodStart': 'VARCHAR', 'Tags': 'VARCHAR'})"
    )
    return database


def _ask(database: duckdb.DuckDBPyConnection, query: str) -> dict[str, Decimal]:
    return {str(key): Decimal(str(total)) for key, total in database.execute(query).fetchall()}


def _duckdb_answers(path: Path) -> dict[str, dict[str, Decimal]]:
    database = _duckdb(path)
    answers = {name: _ask(database, query) for name, query in DUCKDB_QUERIES.items()}
    database.close()
    return answers


def _seconds(measure: Callable[[], object]) -> float:
    def run() -> float:
        with timed() as watch:
            measure()
        return watch.seconds

    return best_of(RUNS, run)


@pytest.mark.django_db
def bench_cost_store_at_10_million_line_items(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for n in range(TEAMS):
        Team.objects.create(slug=f"bench-team-{n}", name=f"Bench team {n}")
    path = tmp_path / "focus.csv"
    _write_file(path)

    copy_seconds = _plain_copy(path)
    temporary_copy_seconds = _plain_copy(path, "TEMPORARY")
    source = CostSource.objects.create(name="bench-focus", kind=SourceKind.UPLOAD)
    with caplog.at_level(logging.INFO, logger="costs.store"), timed() as importing, path.open("rb") as file:
        load = load_focus_file(source, PERIOD, rewound(file), limits=InputLimits.for_exports())
    assert load.line_items == ROWS
    assert "row by row" not in caplog.text  # the bulk reader read it all
    csv_totals = load.totals

    rollup_queries = _queries(CostRollup.objects.filter(day__gte=PERIOD, day__lt=date(2026, 11, 1)), "day")
    line_item_queries = _queries(CostLineItem.objects.all(), "charge_date")
    expected = _duckdb_answers(path)
    rollups, line_items = _answers(rollup_queries), _answers(line_item_queries)
    for name, answer in expected.items():
        assert rollups[name] == answer, name
        assert line_items[name] == answer, name

    rollup_rows = CostRollup.objects.count()
    rows = [
        (
            "line items",
            f"{ROWS:,} in one month ({path.stat().st_size / 1e9:.1f} GB of CSV)",
        ),
        ("rollup rows", f"{rollup_rows:,} ({ROWS / max(rollup_rows, 1):,.0f} line items each)"),
        ("plain COPY (baseline)", f"{ROWS / copy_seconds:,.0f} rows/s ({copy_seconds:.1f} s)"),
        (
            "portal import",
            f"{ROWS / importing.seconds:,.0f} rows/s ({importing.seconds:.1f} s, "
            f"{importing.seconds / copy_seconds:.1f}x the plain COPY's time: parse, validate, attribute, COPY, "
            "roll up)",
        ),
        ("import rate / plain COPY rate", f"{copy_seconds / importing.seconds:.2f}"),
        (
            "  / COPY into a temporary table",
            f"{temporary_copy_seconds / importing.seconds:.2f} (its COPY: {temporary_copy_seconds:.1f} s, "
            "no WAL, not kept)",
        ),
        ("peak RSS of the process", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"),
    ]
    database = _duckdb(path)
    for name, query in DUCKDB_QUERIES.items():
        duck = _seconds(partial(_ask, database, query))
        ours = _seconds(rollup_queries[name])
        rows.append(
            (
                f"{name}: rollups",
                f"{ours * 1000:,.1f} ms ({ours / duck:.3f}x DuckDB over the file, {duck * 1000:,.0f} ms)",
            )
        )
    manager = User.objects.create_user("bench-manager", is_superuser=True)
    month = reports.CostQuery(start=PERIOD, end=date(2026, 10, 31), by="team")
    page = _seconds(partial(reports.breakdown, manager, month))
    by_team = _seconds(partial(_ask, database, DUCKDB_QUERIES["by team"]))
    rows.append(
        (
            "breakdown page's report",
            f"{page * 1000:,.1f} ms: totals, by team, daily series, movers ({page / by_team:.3f}x DuckDB's by team)",
        )
    )
    overview = _seconds(partial(reports.overview, manager, date(2026, 11, 1)))
    rows.append(("overview page's report", f"{overview * 1000:,.1f} ms ({overview / by_team:.3f}x DuckDB's by team)"))
    line_item_seconds = _seconds(partial(_answers, line_item_queries))
    every_rollup_answer = _seconds(partial(_answers, rollup_queries))
    rows.append(
        (
            "all five: rollups",
            f"{every_rollup_answer * 1000:,.1f} ms vs {line_item_seconds * 1000:,.0f} ms aggregating the line items "
            f"({line_item_seconds / every_rollup_answer:,.0f}x)",
        )
    )
    database.close()

    parquet = tmp_path / "focus.parquet"
    _write_parquet(path, parquet)
    CostLoad.objects.filter(source=source).delete()  # the Parquet file is a first load, as the CSV was
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="costs.store"), timed() as parquet_import, parquet.open("rb") as file:
        load = load_focus_file(source, PERIOD, rewound(file), limits=InputLimits.for_exports())
    assert "row by row" not in caplog.text
    assert (load.line_items, load.totals) == (ROWS, csv_totals)
    rows.append(
        (
            "portal import, Parquet",
            f"{ROWS / parquet_import.seconds:,.0f} rows/s ({parquet_import.seconds:.1f} s, "
            f"{parquet.stat().st_size / 1e6:,.0f} MB); rate / plain COPY rate of the CSV: "
            f"{copy_seconds / parquet_import.seconds:.2f}",
        )
    )
    rows.append(("peak RSS after both", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"))
    report(f"cost store: {ROWS:,} FOCUS line items", rows)
