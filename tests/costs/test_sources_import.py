"""Importing cost sources through the drivers: FOCUS exports (S3 on moto, Blob through the Azure fake, the
sandbox), Cost Explorer on moto and the Azure Cost Management query through azure-core's transport."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from costs.choices import SourceKind
from costs.models import CostLineItem, CostLoad, CostSource
from costs.sources.load import ExportNotReady, ImportFailed, export_runs, import_period, periods_due
from providers.cloud import BucketSpec, ObjectInfo
from providers.retry import RetryPolicy
from providers.sandbox.cloud import SandboxCloudDriver
from regions.choices import Provider
from regions.models import CloudAccount
from tests.costs.focus_files import focus_csv, focus_row
from tests.factories import AzureClientSecretAccountFactory, CloudAccountFactory
from tests.providers.conftest_cloud import (
    ACCOUNT,
    AZURE_SUBSCRIPTION,
    REGION,
    aws_harness,
    azure_harness,
    moto_endpoint,
)

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

pytestmark = pytest.mark.django_db

NOVEMBER = date(2026, 11, 1)
OCTOBER = date(2026, 10, 1)
MID_NOVEMBER = date(2026, 11, 20)


def aws_account() -> CloudAccount:
    return CloudAccount.objects.get(pk=CloudAccountFactory(external_id=ACCOUNT).pk)  # type: ignore[attr-defined]


def azure_account() -> CloudAccount:
    account = AzureClientSecretAccountFactory(external_id=AZURE_SUBSCRIPTION)
    return CloudAccount.objects.get(pk=account.pk)  # type: ignore[attr-defined]


def export_source(account: CloudAccount, bucket: str = "focus-exports", prefix: str = "exports") -> CostSource:
    return CostSource.objects.create(
        name=f"{account.provider}-focus", kind=SourceKind.FOCUS_EXPORT, account=account, bucket=bucket, prefix=prefix
    )


def gz(rows: list[dict[str, str]]) -> bytes:
    return gzip.compress(focus_csv(rows).encode())


# The month's invoice: usage, a commitment bought up front and the amortised usage it covers, a credit,
# a refund (negative adjustment), a spot instance, a row without tags, and a second currency.
INVOICE = [
    focus_row("2026-11-02", "100.00", Tags={"team": "payments"}),
    focus_row("2026-11-02", "876.00", EffectiveCost="0", ChargeCategory="Purchase", PricingCategory="Committed"),
    focus_row(
        "2026-11-03",
        "0",
        EffectiveCost="2.40",
        PricingCategory="Committed",
        CommitmentDiscountId="arn:aws:savingsplans::1:savingsplan/sp-1",
        CommitmentDiscountStatus="Used",
    ),
    focus_row("2026-11-04", "-25.00", ChargeCategory="Credit", PricingCategory=""),
    focus_row("2026-11-05", "-3.10", ChargeCategory="Adjustment", ChargeClass="Correction", PricingCategory=""),
    focus_row("2026-11-06", "4.20", PricingCategory="Dynamic", ListCost="12.00"),
    focus_row("2026-11-07", "7.00", Tags=""),
    focus_row("2026-11-07", "13.37", BillingCurrency="EUR", ServiceName="Virtual Machines"),
]
INVOICE_BILLED = {"USD": Decimal("959.10"), "EUR": Decimal("13.37")}


def billed_totals(load: CostLoad) -> dict[str, Decimal]:
    return {currency: Decimal(sums["billed"]) for currency, sums in load.totals.items()}


# ---------------------------------------------------------------- FOCUS exports on S3 (moto)


def s3_bucket(harness: Any, name: str) -> None:
    harness.driver.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


def test_an_aws_data_export_is_read_from_s3_end_to_end_and_adds_up_to_the_invoice(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    s3_bucket(harness, "focus-exports")
    data = "exports/focus/data/BILLING_PERIOD=2026-11"
    harness.put_object("focus-exports", f"{data}/focus-00001.csv.gz", gz(INVOICE[:4]))
    harness.put_object("focus-exports", f"{data}/focus-00002.csv.gz", gz(INVOICE[4:]))
    manifest = {
        "dataFiles": [f"s3://focus-exports/{data}/focus-00001.csv.gz", f"s3://focus-exports/{data}/focus-00002.csv.gz"]
    }
    harness.put_object(
        "focus-exports",
        "exports/focus/metadata/BILLING_PERIOD=2026-11/focus-Manifest.json",
        json.dumps(manifest).encode(),
    )
    source = export_source(aws_account())

    load = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)

    assert load is not None
    assert billed_totals(load) == INVOICE_BILLED
    # Effective: the purchase is not counted again on top of the usage it covers.
    assert (
        Decimal(load.totals["USD"]["effective"])
        == Decimal("100.00") + Decimal("2.40") - 25 - Decimal("3.10") + Decimal("4.20") + 7
    )
    assert load.line_items == len(INVOICE)
    assert not load.final  # the month is not over


def test_importing_the_same_export_again_replaces_the_period_exactly(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    s3_bucket(harness, "focus-exports")
    harness.put_object("focus-exports", "exports/focus/data/BILLING_PERIOD=2026-11/focus-00001.csv.gz", gz(INVOICE))
    source = export_source(aws_account())

    first = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)
    again = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)

    assert first is not None
    assert again is not None
    assert again.pk == first.pk
    assert again.loads == 2
    assert CostLineItem.objects.filter(load=again).count() == len(INVOICE)
    assert billed_totals(again) == INVOICE_BILLED


def test_a_manifest_naming_a_file_not_yet_written_waits_instead_of_loading_part_of_the_run(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    s3_bucket(harness, "focus-exports")
    data = "exports/focus/data/BILLING_PERIOD=2026-11"
    harness.put_object("focus-exports", f"{data}/focus-00001.csv.gz", gz(INVOICE))
    manifest = {
        "dataFiles": [f"s3://focus-exports/{data}/focus-00001.csv.gz", f"s3://focus-exports/{data}/focus-00002.csv.gz"]
    }
    harness.put_object(
        "focus-exports",
        "exports/focus/metadata/BILLING_PERIOD=2026-11/focus-Manifest.json",
        json.dumps(manifest).encode(),
    )
    source = export_source(aws_account())

    with pytest.raises(ExportNotReady, match="focus-00002"):
        import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)

    assert not CostLoad.objects.filter(source=source).exists()


# ---------------------------------------------------------------- FOCUS exports in Blob (the Azure fake)


def test_an_azure_focus_cost_export_reads_only_the_latest_run_of_the_period() -> None:
    harness = azure_harness()
    harness.driver.ensure_bucket(BucketSpec(name="focus-exports"))
    old_run = "exports/focus-cost/20261101-20261130/run-1"
    new_run = "exports/focus-cost/20261101-20261130/run-2"
    stale = [focus_row("2026-11-02", "999.00", BillingCurrency="EUR", ServiceProviderName="Microsoft")]
    harness.put_object("focus-exports", f"{old_run}/part_0_0001.csv.gz", gz(stale))
    harness.put_object(
        "focus-exports",
        f"{old_run}/manifest.json",
        json.dumps({"blobs": [{"blobName": f"{old_run}/part_0_0001.csv.gz"}]}).encode(),
    )
    fake = harness.backend
    for blob in fake.blobs.values():  # the first run was written yesterday
        for item in blob.values():
            item["modified"] = item["modified"] - timedelta(days=1)
    current = [
        focus_row("2026-11-02", "10.50", BillingCurrency="EUR", ServiceProviderName="Microsoft"),
        focus_row("2026-11-03", "4.25", BillingCurrency="EUR", ServiceProviderName="Microsoft"),
    ]
    harness.put_object("focus-exports", f"{new_run}/part_0_0001.csv", focus_csv(current[:1]).encode())
    harness.put_object("focus-exports", f"{new_run}/part_1_0001.csv.gz", gz(current[1:]))
    blobs = [{"blobName": f"{new_run}/part_0_0001.csv"}, {"blobName": f"{new_run}/part_1_0001.csv.gz"}]
    harness.put_object("focus-exports", f"{new_run}/manifest.json", json.dumps({"blobs": blobs}).encode())
    source = export_source(azure_account())

    load = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=harness.driver)

    assert load is not None
    assert billed_totals(load) == {"EUR": Decimal("14.75")}
    assert set(CostLineItem.objects.filter(load=load).values_list("provider", flat=True)) == {"azure"}


# ---------------------------------------------------------------- runs, finality, malformed files (sandbox)


def sandbox_driver(tmp_path: Path, clock: list[datetime]) -> SandboxCloudDriver:
    driver = SandboxCloudDriver(tmp_path / "cloud", account=ACCOUNT, clock=lambda: clock[0])
    driver.ensure_bucket(BucketSpec(name="focus-exports"))
    return driver


def test_without_a_manifest_the_newest_run_folder_of_a_period_is_read(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    period = "exports/focus/data/BILLING_PERIOD=2026-11"
    driver.put_object("focus-exports", f"{period}/20261110T0100Z/focus-00001.csv.gz", gz([focus_row(cost="1.00")]))
    clock[0] += timedelta(days=1)
    driver.put_object("focus-exports", f"{period}/20261111T0100Z/focus-00001.csv.gz", gz([focus_row(cost="2.00")]))
    source = export_source(aws_account())

    load = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)

    assert load is not None
    assert billed_totals(load) == {"USD": Decimal("2.00")}


def test_a_closed_month_written_after_it_closed_is_final_and_never_read_again(tmp_path: Path, settings: Any) -> None:
    settings.COSTS_FINAL_AFTER_DAYS = 5
    clock = [datetime(2026, 11, 3, 6, tzinfo=UTC)]  # October's export, re-written after October ended
    driver = sandbox_driver(tmp_path, clock)
    key = "exports/focus/data/BILLING_PERIOD=2026-10/focus-00001.csv.gz"
    driver.put_object("focus-exports", key, gz([focus_row("2026-10-30", "5.00")]))
    source = export_source(aws_account())

    early = import_period(source, OCTOBER, today=date(2026, 11, 3), driver=driver)
    settled = import_period(source, OCTOBER, today=date(2026, 11, 6), driver=driver)
    driver.put_object("focus-exports", key, gz([focus_row("2026-10-30", "7.00")]))
    after_final = import_period(source, OCTOBER, today=date(2026, 11, 7), driver=driver)

    assert early is not None
    assert not early.final
    assert settled is not None
    assert settled.final
    assert after_final is None
    assert billed_totals(CostLoad.objects.get(source=source, billing_period_start=OCTOBER)) == {"USD": Decimal("5.00")}
    assert periods_due(source, date(2026, 11, 7)) == [NOVEMBER]


def test_a_snapshot_written_before_the_month_ended_is_never_final(tmp_path: Path) -> None:
    clock = [datetime(2026, 10, 20, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    driver.put_object(
        "focus-exports", "exports/focus/data/BILLING_PERIOD=2026-10/focus-00001.csv.gz", gz([focus_row("2026-10-02")])
    )
    source = export_source(aws_account())

    load = import_period(source, OCTOBER, today=date(2026, 12, 20), driver=driver)

    assert load is not None
    assert not load.final


def test_malformed_rows_fail_the_import_listing_them_and_keep_the_previous_figures(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    key = "exports/focus/data/BILLING_PERIOD=2026-11/focus-00001.csv.gz"
    driver.put_object("focus-exports", key, gz([focus_row(cost="3.00")]))
    source = export_source(aws_account())
    import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)
    broken = [focus_row(cost="4.00"), focus_row(cost="four"), focus_row(BillingCurrency="dollars")]
    driver.put_object("focus-exports", key, gz(broken))

    with pytest.raises(ImportFailed) as failure:
        import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)

    assert [(error.line, error.column) for error in failure.value.errors] == [(3, "BilledCost"), (4, "BillingCurrency")]
    assert "line 3, BilledCost: focus-00001.csv.gz: 'four' is not a number" in str(failure.value)
    assert billed_totals(CostLoad.objects.get(source=source)) == {"USD": Decimal("3.00")}


def test_periods_are_told_apart_by_the_aws_and_the_azure_folder_layouts() -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC)

    def item(key: str) -> ObjectInfo:
        return ObjectInfo(key=key, size=1, last_modified=at, etag="e")

    runs = export_runs(
        [
            item("p/aws/data/BILLING_PERIOD=2026-10/aws-00001.csv.gz"),
            item("p/aws/metadata/BILLING_PERIOD=2026-10/aws-Manifest.json"),
            item("p/azure/20261101-20261130/8f0e-run/part_0_0001.csv.gz"),
            item("p/azure/20261101-20261130/8f0e-run/manifest.json"),
            item("p/readme.txt"),
        ]
    )

    assert sorted(runs) == [OCTOBER, NOVEMBER]
    assert [run.folder for run in runs[NOVEMBER]] == ["p/azure/20261101-20261130/8f0e-run"]
    assert {run.manifest is not None for run in runs[OCTOBER]} == {False, True}


# ---------------------------------------------------------------- Cost Explorer on moto


def inject_cost_explorer(endpoint: str, pages: list[dict[str, Any]]) -> None:
    answer = requests.post(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        json={"results": pages, "account_id": ACCOUNT},
        timeout=10,
    )
    answer.raise_for_status()


def ce_day(day: str, *groups: tuple[str, str, str, str]) -> dict[str, Any]:
    following = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    return {
        "TimePeriod": {"Start": day, "End": following},
        "Total": {},
        "Groups": [
            {
                "Keys": [service, region],
                "Metrics": {
                    "UnblendedCost": {"Amount": billed, "Unit": "USD"},
                    "AmortizedCost": {"Amount": amortised, "Unit": "USD"},
                },
            }
            for service, region, billed, amortised in groups
        ],
        "Estimated": True,
    }


def cost_explorer_source(account: CloudAccount) -> CostSource:
    return CostSource.objects.create(name="aws-mtd", kind=SourceKind.COST_EXPLORER, account=account)


def test_cost_explorer_pages_are_loaded_with_billed_and_effective_cost_and_each_request_is_priced(
    moto_endpoint: str, settings: Any
) -> None:
    settings.COSTS_COST_EXPLORER_REQUEST_USD = Decimal("0.01")
    harness = aws_harness(moto_endpoint)
    first = {
        "ResultsByTime": [
            ce_day("2026-11-01", ("Amazon Elastic Compute Cloud - Compute", "eu-west-1", "12.5", "9.75"))
        ],
        "NextPageToken": "page-2",
    }
    second = {
        "ResultsByTime": [
            ce_day(
                "2026-11-02",
                ("Amazon Elastic Compute Cloud - Compute", "eu-west-1", "12.5", "9.75"),
                ("Amazon Simple Storage Service", "eu-west-1", "0.4", "0.4"),
            )
        ]
    }
    inject_cost_explorer(moto_endpoint, [first, second])
    source = cost_explorer_source(aws_account())

    load = import_period(source, NOVEMBER, today=date(2026, 11, 3), driver=harness.driver)

    assert load is not None
    assert (load.requests, load.request_cost) == (2, Decimal("0.0200"))
    assert load.totals == {
        "USD": {
            "billed": "25.4000000000",
            "effective": "19.9000000000",
            "list": "25.4000000000",
            "contracted": "25.4000000000",
        }
    }
    assert set(CostLineItem.objects.filter(load=load).values_list("provider", "region_code", "billing_account_id")) == {
        ("aws", "eu-west-1", ACCOUNT)
    }


def test_cost_explorer_days_the_bill_already_covers_are_not_stored(moto_endpoint: str, tmp_path: Path) -> None:
    harness = aws_harness(moto_endpoint)
    account = aws_account()
    clock = [datetime(2026, 11, 3, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    bill = [focus_row("2026-11-01", "11.00", BillingAccountId=ACCOUNT)]
    driver.put_object("focus-exports", "exports/focus/data/BILLING_PERIOD=2026-11/focus-00001.csv.gz", gz(bill))
    import_period(export_source(account), NOVEMBER, today=date(2026, 11, 3), driver=driver)
    inject_cost_explorer(
        moto_endpoint,
        [
            {
                "ResultsByTime": [
                    ce_day("2026-11-01", ("Amazon Elastic Compute Cloud - Compute", "eu-west-1", "10", "10")),
                    ce_day("2026-11-02", ("Amazon Elastic Compute Cloud - Compute", "eu-west-1", "12", "12")),
                ]
            }
        ],
    )

    fresh = import_period(cost_explorer_source(account), NOVEMBER, today=date(2026, 11, 3), driver=harness.driver)

    assert fresh is not None
    assert (fresh.line_items, fresh.superseded) == (1, 1)
    assert fresh.totals["USD"]["billed"] == "12.0000000000"


def test_the_current_month_is_asked_for_its_complete_days_only(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    asked: list[dict[str, Any]] = []
    harness.driver.on("before-parameter-build.ce.GetCostAndUsage", lambda params, **_: asked.append(dict(params)))
    source = cost_explorer_source(aws_account())

    import_period(source, NOVEMBER, today=date(2026, 11, 3), driver=harness.driver)
    on_the_first = import_period(source, NOVEMBER, today=NOVEMBER, driver=harness.driver)

    assert asked[0]["TimePeriod"] == {"Start": "2026-11-01", "End": "2026-11-03"}
    assert len(asked) == 1  # on the 1st no day is complete: no request at all
    assert on_the_first is not None
    assert on_the_first.requests == 0


# ---------------------------------------------------------------- Azure Cost Management query


def test_the_azure_query_is_loaded_across_pages_and_throttling_with_its_requests_counted() -> None:
    harness = azure_harness()
    fake = harness.backend
    for day in range(1, 4):
        fake.seed_cost(date(2026, 11, day), "Virtual Machines", "westeurope", {}, "10.25")
        fake.seed_cost(date(2026, 11, day), "Storage", "germanywestcentral", {}, "0.5")
    fake.fail_next("POST", "Microsoft.CostManagement/query", 429, times=1, retry_after=3)
    harness.driver.retry_policy = RetryPolicy(attempts=3, base_seconds=0, cap_seconds=30)
    source = CostSource.objects.create(name="azure-mtd", kind=SourceKind.AZURE_QUERY, account=azure_account())

    load = import_period(source, NOVEMBER, today=date(2026, 11, 4), driver=harness.driver)

    assert load is not None
    assert load.totals["USD"]["billed"] == "32.2500000000"
    assert load.line_items == 6
    assert (load.requests, load.request_cost) == (3, Decimal(0))  # throttled try, page one, page two; free
    assert harness.sleeps == [3.0]
    assert set(CostLineItem.objects.filter(load=load).values_list("provider", flat=True)) == {Provider.AZURE}


def test_a_manifest_naming_its_blobs_with_the_container_in_front_still_finds_them(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 10, tzinfo=UTC)]
    driver = sandbox_driver(tmp_path, clock)
    run = "exports/focus-cost/20261101-20261130/0b7c-run"
    driver.put_object("focus-exports", f"{run}/part_0_0001.csv.gz", gz([focus_row(cost="6.50")]))
    manifest = {"blobs": [{"blobName": f"focus-exports/{run}/part_0_0001.csv.gz", "byteCount": 120}]}
    driver.put_object("focus-exports", f"{run}/manifest.json", json.dumps(manifest).encode())
    source = export_source(aws_account())

    load = import_period(source, NOVEMBER, today=MID_NOVEMBER, driver=driver)

    assert load is not None
    assert billed_totals(load) == {"USD": Decimal("6.50")}
