"""FOCUS files written as Parquet: exports in the AWS (S3 on moto) and Azure (Blob through the Azure fake)
layouts and uploads load exactly what the CSV of the same rows loads, with the same row checks."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from costs.focus import open_focus, read_focus
from costs.models import CostLineItem, CostLoad, CostSource
from costs.parquet import parquet_lines
from costs.sources.load import ImportFailed, import_period
from portal.demo import Persona
from providers.cloud import BucketSpec
from tests.costs.focus_files import COLUMNS, focus_csv, focus_row
from tests.costs.test_sources_import import (
    INVOICE,
    INVOICE_BILLED,
    MID_NOVEMBER,
    NOVEMBER,
    aws_account,
    azure_account,
    billed_totals,
    export_source,
    gz,
    s3_bucket,
    sandbox_driver,
)
from tests.providers.conftest_cloud import aws_harness, azure_harness, moto_endpoint

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

pytestmark = pytest.mark.django_db

TIMESTAMPS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
MONEY = ("BilledCost", "EffectiveCost", "ListCost")
# What a line item holds, all of it but its id and load.
ITEM_FIELDS = [field.name for field in CostLineItem._meta.concrete_fields if field.name not in ("id", "load")]


def focus_table(rows: list[dict[str, str]], *, tags: str = "map", money: pa.DataType | None = None) -> pa.Table:
    """The rows as a typed table, as the providers write Parquet: UTC timestamps, decimal costs, Tags as a
    map (``tags="map"``) or as JSON text (``tags="json"``); an empty CSV field is a null."""
    money = money or pa.decimal128(24, 10)
    columns: dict[str, pa.Array] = {}
    for name in COLUMNS:
        values = [row.get(name) or None for row in rows]
        if name in TIMESTAMPS:
            columns[name] = pa.array(
                [datetime.fromisoformat(value) if value else None for value in values], pa.timestamp("ms", tz="UTC")
            )
        elif name in MONEY:
            columns[name] = pa.array([Decimal(value) if value else None for value in values], money)
        elif name == "Tags" and tags == "map":
            columns[name] = pa.array(
                [list(json.loads(value).items()) if value else None for value in values],
                pa.map_(pa.string(), pa.string()),
            )
        else:
            columns[name] = pa.array(values, pa.string())
    return pa.table(columns)


def parquet(rows: list[dict[str, str]], **options: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(focus_table(rows, **options), sink, compression="snappy")
    return sink.getvalue()


def line_items(load: CostLoad) -> list[tuple[Any, ...]]:
    return sorted(
        CostLineItem.objects.filter(load=load).values_list(*ITEM_FIELDS),
        key=lambda item: json.dumps(item, default=str, sort_keys=True),
    )


def test_an_aws_parquet_export_loads_exactly_what_the_csv_of_the_same_rows_loads(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    s3_bucket(harness, "focus-exports")
    for export, write, suffix in (("csv", gz, "csv.gz"), ("parquet", parquet, "snappy.parquet")):
        data = f"exports/{export}/data/BILLING_PERIOD=2026-11"
        keys = [f"{data}/{export}-00001.{suffix}", f"{data}/{export}-00002.{suffix}"]
        harness.put_object("focus-exports", keys[0], write(INVOICE[:4]))
        harness.put_object("focus-exports", keys[1], write(INVOICE[4:]))
        manifest = {"dataFiles": [f"s3://focus-exports/{key}" for key in keys]}
        harness.put_object(
            "focus-exports",
            f"exports/{export}/metadata/BILLING_PERIOD=2026-11/{export}-Manifest.json",
            json.dumps(manifest).encode(),
        )
    source = export_source(aws_account(), prefix="exports/csv")
    from_csv = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)
    assert from_csv is not None
    csv_items, csv_totals = line_items(from_csv), from_csv.totals
    source.prefix = "exports/parquet"
    source.save()

    from_parquet = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)

    assert from_parquet is not None
    assert from_parquet.line_items == len(INVOICE)
    assert billed_totals(from_parquet) == INVOICE_BILLED
    assert from_parquet.totals == csv_totals
    assert line_items(from_parquet) == csv_items
    # The Tags map is read as the tags the CSV's JSON object gives.
    assert {"team": "payments"} in [item[ITEM_FIELDS.index("tags")] for item in line_items(from_parquet)]


def test_an_azure_parquet_export_loads_exactly_what_the_csv_of_the_same_rows_loads() -> None:
    harness = azure_harness()
    harness.driver.ensure_bucket(BucketSpec(name="focus-exports"))
    rows = [
        focus_row("2026-11-02", "10.50", BillingCurrency="EUR", ServiceProviderName="Microsoft", Tags={"app": "web"}),
        focus_row("2026-11-03", "4.25", BillingCurrency="EUR", ServiceProviderName="Microsoft", ResourceId=""),
        focus_row(
            "2026-11-01",
            "300.00",
            ChargePeriodEnd="2026-12-01T00:00:00Z",
            BillingCurrency="EUR",
            ServiceProviderName="Microsoft",
        ),
    ]
    for export, data in (("csv", focus_csv(rows).encode()), ("parquet", parquet(rows, tags="json"))):
        run = f"exports/{export}/20261101-20261130/run-1"
        name = f"part_0_0001.{'csv' if export == 'csv' else 'parquet'}"
        harness.put_object("focus-exports", f"{run}/{name}", data)
        harness.put_object(
            "focus-exports", f"{run}/manifest.json", json.dumps({"blobs": [{"blobName": f"{run}/{name}"}]}).encode()
        )
    source = export_source(azure_account(), prefix="exports/csv")
    from_csv = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)
    assert from_csv is not None
    csv_items, csv_totals = line_items(from_csv), from_csv.totals
    source.prefix = "exports/parquet"
    source.save()

    from_parquet = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)

    assert from_parquet is not None
    assert billed_totals(from_parquet) == {"EUR": Decimal("314.75")}
    assert from_parquet.totals == csv_totals
    assert line_items(from_parquet) == csv_items
    assert from_parquet.line_items == 2 + 30  # the month-long row is spread over its thirty days


def test_a_run_folder_holding_csv_and_parquet_is_read_in_the_format_of_its_newest_file_only(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    data = "exports/focus/data/BILLING_PERIOD=2026-11"
    driver.put_object("focus-exports", f"{data}/focus-00001.csv.gz", gz([focus_row(cost="1.00")]))
    clock[0] += timedelta(hours=6)  # the export was switched to Parquet: the old CSV file stays beside it
    driver.put_object("focus-exports", f"{data}/focus-00001.snappy.parquet", parquet([focus_row(cost="2.00")]))
    source = export_source(aws_account())

    load = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)

    assert load is not None
    assert billed_totals(load) == {"USD": Decimal("2.00")}


def test_a_parquet_export_with_a_bad_row_fails_naming_its_row_and_loads_nothing(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    key = "exports/focus/data/BILLING_PERIOD=2026-11/focus-00001.snappy.parquet"
    broken = [focus_row(cost="4.00"), focus_row(cost="4.00", ChargeCategory="Gift")]
    driver.put_object("focus-exports", key, parquet(broken))
    source = export_source(aws_account())

    with pytest.raises(ImportFailed) as failure:
        import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)

    assert [(error.line, error.column) for error in failure.value.errors] == [(3, "ChargeCategory")]
    assert "line 3, ChargeCategory: focus-00001.snappy.parquet: (row 2 of the Parquet file) 'Gift'" in str(
        failure.value
    )
    assert not CostLoad.objects.filter(source=source).exists()
    assert not CostLineItem.objects.exists()


def test_a_damaged_parquet_export_fails_with_a_message_and_loads_nothing(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    whole = parquet([focus_row(cost="4.00")])
    key = "exports/focus/data/BILLING_PERIOD=2026-11/focus-00001.snappy.parquet"
    driver.put_object("focus-exports", key, whole[: len(whole) // 2])  # cut off: no footer
    source = export_source(aws_account())

    with pytest.raises(ImportFailed, match=r"focus-00001\.snappy\.parquet: the file is not a Parquet file"):
        import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)

    assert not CostLoad.objects.filter(source=source).exists()


def test_a_decimal_cost_column_keeps_every_digit(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    exact = "123456789012.0123456789"  # a float keeps about 16 of these 22 digits
    row = focus_row(cost=exact, EffectiveCost="0.0000000001", ListCost="999999999999.9999999999")
    key = "exports/focus/data/BILLING_PERIOD=2026-11/focus-00001.snappy.parquet"
    driver.put_object("focus-exports", key, parquet([row], money=pa.decimal128(23, 10)))
    source = export_source(aws_account())

    load = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)

    assert load is not None
    item = CostLineItem.objects.get(load=load)
    assert (item.billed_cost, item.effective_cost, item.list_cost) == (
        Decimal(exact),
        Decimal("0.0000000001"),
        Decimal("999999999999.9999999999"),
    )


@pytest.mark.parametrize("tags", ["map", "json"])
def test_tags_are_read_from_a_map_column_and_from_a_json_text_column(tmp_path: Path, tags: str) -> None:
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    rows = [
        focus_row("2026-11-02", "1.00", Tags={"team": "payments", "cost-centre": 'CC "7", Zürich'}),
        focus_row("2026-11-03", "2.00", Tags=""),
    ]
    key = "exports/focus/data/BILLING_PERIOD=2026-11/focus-00001.snappy.parquet"
    driver.put_object("focus-exports", key, parquet(rows, tags=tags))
    source = export_source(aws_account())

    load = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)

    assert load is not None
    assert sorted(CostLineItem.objects.filter(load=load).values_list("charge_date", "tags")) == [
        (date(2026, 11, 2), {"team": "payments", "cost-centre": 'CC "7", Zürich'}),
        (date(2026, 11, 3), {}),
    ]


@pytest.mark.django_db(databases=[])
def test_timestamps_in_another_zone_are_dated_by_their_utc_day() -> None:
    table = focus_table([focus_row("2026-11-03", "6.00")])
    start = pa.array([datetime(2026, 11, 3, 1, 0, tzinfo=UTC) - timedelta(hours=2)], pa.timestamp("us", tz="+02:00"))
    end = pa.array([datetime(2026, 11, 3, 23, 0, tzinfo=UTC)], pa.timestamp("s"))  # no zone: taken as UTC
    table = table.set_column(table.schema.get_field_index("ChargePeriodStart"), "ChargePeriodStart", start)
    table = table.set_column(table.schema.get_field_index("ChargePeriodEnd"), "ChargePeriodEnd", end)
    sink = io.BytesIO()
    pq.write_table(table, sink)

    focus = read_focus(parquet_lines(io.BytesIO(sink.getvalue())))

    assert focus.ok, focus.errors
    # 01:00 at +02:00 is 23:00 UTC the day before; the end at 23:00 UTC counts its day: two days, 3.00 each.
    assert [(row.charge_date, row.billed_cost) for row in focus.rows] == [
        (date(2026, 11, 2), Decimal("3.0000000000")),
        (date(2026, 11, 3), Decimal("3.0000000000")),
    ]


@pytest.mark.django_db(databases=[])
def test_a_value_holding_a_line_break_does_not_shift_the_rows_errors_name() -> None:
    rows = [
        focus_row(ServiceName="Compute\nwith a line break"),
        focus_row(cost="1.00"),
        focus_row(cost="1.00", BillingCurrency="dollars"),
    ]

    focus = read_focus(parquet_lines(io.BytesIO(parquet(rows))))

    assert [(error.line, error.column) for error in focus.errors] == [(4, "BillingCurrency")]


# ---------------------------------------------------------------- uploads (the page)

UPLOADED = [
    focus_row("2026-10-31", "20.00"),
    focus_row("2026-11-01", "100.00", Tags={"team": "payments"}),
    focus_row("2026-11-02", "-12.50", ChargeCategory="Credit", PricingCategory=""),
    focus_row("2026-11-02", "8.75", BillingCurrency="EUR"),
]


def post_upload(client: Client, name: str, data: bytes) -> Any:
    upload = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return client.post(reverse("costs:upload"), {"new_source": "finance-upload", "file": upload})


def upload_items() -> list[tuple[Any, ...]]:
    source = CostSource.objects.get(name="finance-upload")
    return sorted(
        CostLineItem.objects.filter(load__source=source).values_list(*ITEM_FIELDS),
        key=lambda item: json.dumps(item, default=str, sort_keys=True),
    )


def test_an_uploaded_parquet_file_loads_what_its_csv_loads(client_for: Callable[[Persona | None], Client]) -> None:
    client = client_for(Persona.MANAGER)
    assert post_upload(client, "bill.csv", focus_csv(UPLOADED).encode()).status_code == 302
    from_csv = upload_items()

    # Told by its content: the name says nothing of Parquet.
    response = post_upload(client, "bill-export", parquet(UPLOADED))

    assert response.status_code == 302
    assert upload_items() == from_csv
    assert len(from_csv) == len(UPLOADED)


def test_an_uploaded_parquet_file_with_a_bad_row_lists_it_by_line_and_loads_nothing(
    client_for: Callable[[Persona | None], Client],
) -> None:
    rows = [focus_row("2026-11-01", "10.00"), focus_row("2026-11-02", "1.00", BillingCurrency="dollars")]
    client = client_for(Persona.MANAGER)
    items_before = CostLineItem.objects.count()  # the demo's

    response = post_upload(client, "bill.parquet", parquet(rows))

    assert response.status_code == 400
    assert [(error.line, error.column) for error in response.context["errors"]] == [(3, "BillingCurrency")]
    assert "(row 2 of the Parquet file)" in response.content.decode()
    assert not CostSource.objects.filter(name="finance-upload").exists()
    assert CostLineItem.objects.count() == items_before


@pytest.mark.django_db(databases=[])
def test_a_damaged_parquet_upload_is_refused_with_a_message_not_read_as_text() -> None:
    whole = parquet([focus_row()])

    reader = open_focus(io.BytesIO(whole[: len(whole) - 12]))  # its footer cut off
    rows = list(reader)
    errors = reader.errors

    assert rows == []
    assert [(error.line, error.column) for error in errors] == [(1, "")]
    assert errors[0].message.startswith("the file is not a Parquet file that can be read (")
