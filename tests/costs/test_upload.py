"""The FOCUS upload page and the sources pages: row errors shown and nothing loaded, good files replace their
periods, a second submit changes nothing; sources list their loads per currency and their last error."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from access.audit import services as audit
from access.models import AuditEvent
from costs.choices import SourceKind
from costs.models import CostLineItem, CostLoad, CostSource
from portal.demo import Persona
from tests.costs.focus_files import focus_csv, focus_row
from tests.helpers import queries_for

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

GOOD = [
    focus_row("2026-10-31", "20.00"),
    focus_row("2026-11-01", "100.00", Tags={"team": "payments"}),
    focus_row("2026-11-02", "-12.50", ChargeCategory="Credit", PricingCategory=""),
    focus_row("2026-11-02", "8.75", BillingCurrency="EUR"),
    focus_row("2026-11-03", "50.00", EffectiveCost="0", ChargeCategory="Purchase", PricingCategory="Committed"),
]


def csv_file(rows: list[dict[str, str]], name: str = "bill.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, focus_csv(rows).encode(), content_type="text/csv")


def post_upload(client: Client, upload: SimpleUploadedFile, **fields: Any) -> Any:
    return client.post(reverse("costs:upload"), {"new_source": "finance-upload", **fields, "file": upload})


def test_a_good_file_loads_each_billing_period_it_holds(client_for: Callable[[Persona | None], Client]) -> None:
    response = post_upload(client_for(Persona.MANAGER), csv_file(GOOD))

    assert response.status_code == 302
    source = CostSource.objects.get(name="finance-upload")
    assert source.kind == SourceKind.UPLOAD
    loads = {load.billing_period_start: load for load in CostLoad.objects.filter(source=source)}
    assert sorted(loads) == [date(2026, 10, 1), date(2026, 11, 1)]
    november = loads[date(2026, 11, 1)]
    assert {currency: Decimal(sums["billed"]) for currency, sums in november.totals.items()} == {
        "USD": Decimal("137.50"),
        "EUR": Decimal("8.75"),
    }
    assert Decimal(november.totals["USD"]["effective"]) == Decimal("87.50")  # the purchase counts once, amortised
    assert AuditEvent.objects.filter(verb=audit.COST_UPLOADED, object_id=str(source.pk)).count() == 1


def test_sending_the_same_file_twice_leaves_the_same_figures(client_for: Callable[[Persona | None], Client]) -> None:
    client = client_for(Persona.MANAGER)

    post_upload(client, csv_file(GOOD))
    post_upload(client, csv_file(GOOD))

    source = CostSource.objects.get(name="finance-upload")
    assert CostLineItem.objects.filter(load__source=source).count() == len(GOOD)
    assert CostLoad.objects.get(source=source, billing_period_start=date(2026, 11, 1)).loads == 2


def test_a_gzip_file_into_an_existing_upload_source_replaces_only_the_periods_it_holds(
    client_for: Callable[[Persona | None], Client],
) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    post_upload(client, csv_file(GOOD))
    source = CostSource.objects.get(name="finance-upload")
    corrected = SimpleUploadedFile("bill.csv.gz", gzip.compress(focus_csv([focus_row("2026-11-05", "1.00")]).encode()))

    response = client.post(reverse("costs:upload"), {"source": source.pk, "file": corrected})

    assert response.status_code == 302
    november = CostLoad.objects.get(source=source, billing_period_start=date(2026, 11, 1))
    one = "1.0000000000"
    assert november.totals == {"USD": {"billed": one, "effective": one, "list": one, "contracted": one}}
    assert CostLoad.objects.get(source=source, billing_period_start=date(2026, 10, 1)).line_items == 1


def test_bad_rows_are_listed_with_line_and_column_and_nothing_is_loaded(
    client_for: Callable[[Persona | None], Client],
) -> None:
    rows = [
        focus_row("2026-11-01", "10.00"),
        focus_row("2026-11-02", "ten"),
        focus_row("2026-11-03", "1.00", ChargeCategory="Gift"),
        focus_row("2026-11-04", "1.00", Tags="not json"),
    ]

    response = post_upload(client_for(Persona.MANAGER), csv_file(rows))

    assert response.status_code == 400
    errors = [(error.line, error.column) for error in response.context["errors"]]
    assert errors == [(3, "BilledCost"), (4, "ChargeCategory"), (5, "Tags")]
    page = response.content.decode()
    assert "3 of 4 rows are bad. Nothing was loaded." in page
    assert "&#x27;ten&#x27; is not a number" in page
    assert not CostSource.objects.filter(name="finance-upload").exists()
    assert not CostLineItem.objects.exists()


def test_a_file_missing_focus_columns_is_refused_naming_them(client_for: Callable[[Persona | None], Client]) -> None:
    upload = SimpleUploadedFile("bill.csv", b"Cost,Day\n1,2026-11-01\n")

    response = post_upload(client_for(Persona.MANAGER), upload)

    assert response.status_code == 400
    assert "missing FOCUS column(s): BilledCost, EffectiveCost" in response.content.decode()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    client_for: Callable[[Persona | None], Client], settings: Any
) -> None:
    settings.COSTS_UPLOAD_MAX_BYTES = 1024

    response = post_upload(client_for(Persona.MANAGER), csv_file([focus_row() for _ in range(20)]))

    assert response.status_code == 400
    assert "files up to 1.0\xa0KB are accepted" in response.content.decode()
    assert not CostLineItem.objects.exists()


def test_people_without_costs_change_cannot_upload(client_for: Callable[[Persona | None], Client]) -> None:
    response = post_upload(client_for(Persona.DEVELOPER), csv_file(GOOD))

    assert response.status_code == 403
    assert not CostLineItem.objects.exists()


def test_the_sources_page_shows_loads_per_currency_requests_and_the_last_error(
    client_for: Callable[[Persona | None], Client],
) -> None:
    client = client_for(Persona.MANAGER)
    post_upload(client, csv_file(GOOD))
    failing = CostSource.objects.create(
        name="aws-mtd", kind=SourceKind.COST_EXPLORER, last_error="PermissionDenied: not authorised to call ce"
    )
    CostLoad.objects.create(
        source=failing,
        billing_period_start=date(2026, 11, 1),
        line_items=3,
        totals={"USD": {"billed": "4.5", "effective": "4.5", "list": "4.5"}},
        requests=4,
        request_cost=Decimal("0.04"),
    )

    response = client.get(reverse("costs:sources"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "137.50 USD" in page
    assert "8.75 EUR" in page
    assert "PermissionDenied: not authorised to call ce" in page
    assert "0.04 USD" in page
    assert f'action="{reverse("costs:source_import", args=[failing.pk])}"' in page


def test_the_sources_page_runs_the_same_queries_however_many_sources(
    client_for: Callable[[Persona | None], Client],
) -> None:
    client = client_for(Persona.MANAGER)
    CostSource.objects.create(name="first", kind=SourceKind.UPLOAD)
    queries_for(client, reverse("costs:sources"))  # warms the caches a first request fills (content types)
    before = queries_for(client, reverse("costs:sources"))
    for number in range(5):
        source = CostSource.objects.create(name=f"more-{number}", kind=SourceKind.UPLOAD)
        CostLoad.objects.create(source=source, billing_period_start=date(2026, 11, 1))

    assert queries_for(client, reverse("costs:sources")) == before


def test_disabling_a_source_on_its_page_keeps_it_out_of_the_schedule(
    client_for: Callable[[Persona | None], Client],
) -> None:
    source = CostSource.objects.create(name="finance-upload", kind=SourceKind.UPLOAD)

    response = client_for(Persona.MANAGER).post(
        reverse("costs:source_edit", args=[source.pk]), {"name": "finance-upload", "kind": "upload"}
    )

    assert response.status_code == 302
    source.refresh_from_db()
    assert not source.enabled
    event = AuditEvent.objects.get(verb=audit.COST_SOURCE_CHANGED)
    assert event.after is not None
    assert event.after["enabled"] is False


def test_the_api_lists_sources_with_their_loads_and_starts_an_import(
    client_for: Callable[[Persona | None], Client],
) -> None:
    client = client_for(Persona.MANAGER)
    post_upload(client, csv_file(GOOD))

    listed = client.get("/api/cost-sources/").json()
    upload = next(item for item in listed["results"] if item["name"] == "finance-upload")
    refused = client.post(f"/api/cost-sources/{upload['id']}/import/")

    assert [load["billing_period_start"] for load in upload["loads"]] == ["2026-11-01", "2026-10-01"]
    assert upload["loads"][0]["totals"]["EUR"]["billed"] == "8.7500000000"
    assert refused.status_code == 400  # an upload source is not imported from a cloud
    assert "not imported from a cloud" in refused.json()["error"]["fields"]["non_field_errors"][0]
    assert client_for(Persona.DEVELOPER).get("/api/cost-sources/").json()["results"] == []
