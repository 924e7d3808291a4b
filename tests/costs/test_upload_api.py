"""POST /api/cost-sources/{id}/upload/: the upload page's checks, limits, messages and audit through the API,
with an Idempotency-Key that loads a file once and refuses the key for another file."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from access.audit import services as audit
from access.models import AuditEvent
from costs.choices import SourceKind
from costs.models import CostLineItem, CostLoad, CostSource, CostUpload
from portal.demo import Persona
from tests.costs.focus_files import focus_csv, focus_row

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

GOOD = [focus_row("2026-11-01", "100.00"), focus_row("2026-11-02", "8.75", BillingCurrency="EUR")]


@pytest.fixture
def source() -> CostSource:
    return CostSource.objects.create(name="finance-upload", kind=SourceKind.UPLOAD)


@pytest.fixture
def manager(client_for: Callable[[Persona | None], Client]) -> Client:
    return client_for(Persona.MANAGER)


def upload(client: Client, source: CostSource, content: bytes, key: str = "", name: str = "bill.csv") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        f"/api/cost-sources/{source.pk}/upload/", {"file": SimpleUploadedFile(name, content)}, headers=headers
    )


def test_a_good_file_is_loaded_and_answered_with_its_periods(manager: Client, source: CostSource) -> None:
    response = upload(manager, source, gzip.compress(focus_csv(GOOD).encode()), name="bill.csv.gz")

    assert response.status_code == 201
    body = response.json()
    assert body["source"] == source.pk
    assert body["lines"] == 2
    assert body["line_items"] == 2
    assert [period["billing_period_start"] for period in body["periods"]] == ["2026-11-01"]
    assert body["periods"][0]["totals"]["EUR"]["billed"] == "8.7500000000"
    event = AuditEvent.objects.get(verb=audit.COST_UPLOADED, object_id=str(source.pk))
    assert event.after is not None
    assert event.after["line_items"] == 2


def test_the_same_idempotency_key_twice_loads_once_and_answers_the_first_answer(
    manager: Client, source: CostSource
) -> None:
    content = focus_csv(GOOD).encode()

    first = upload(manager, source, content, key="ci-run-42")
    again = upload(manager, source, content, key="ci-run-42")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    load = CostLoad.objects.get(source=source, billing_period_start=date(2026, 11, 1))
    assert load.loads == 1
    assert CostLineItem.objects.filter(load=load).count() == 2
    assert AuditEvent.objects.filter(verb=audit.COST_UPLOADED).count() == 1
    assert CostUpload.objects.get().idempotency_key == "ci-run-42"


def test_the_same_key_with_another_file_is_refused_and_loads_nothing(manager: Client, source: CostSource) -> None:
    upload(manager, source, focus_csv(GOOD).encode(), key="ci-run-42")

    other = upload(manager, source, focus_csv([focus_row("2026-11-05", "1.00")]).encode(), key="ci-run-42")

    assert other.status_code == 422
    error = other.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert "another upload" in error["message"]
    load = CostLoad.objects.get(source=source, billing_period_start=date(2026, 11, 1))
    assert load.totals["USD"]["billed"] == "100.0000000000"
    assert load.loads == 1


def test_without_a_key_each_request_loads_again(manager: Client, source: CostSource) -> None:
    content = focus_csv(GOOD).encode()

    upload(manager, source, content)
    second = upload(manager, source, content)

    assert second.status_code == 201
    assert CostLoad.objects.get(source=source, billing_period_start=date(2026, 11, 1)).loads == 2


def test_a_malformed_file_is_a_structured_400_naming_each_line(manager: Client, source: CostSource) -> None:
    upload(manager, source, focus_csv(GOOD).encode())
    rows = [*GOOD, focus_row("2026-11-03", "ten"), focus_row(ChargePeriodStart="2025-03-31T22:00:00-05:00")]
    content = focus_csv(rows).encode() + b"1,2,3\x00\n"

    response = upload(manager, source, content, key="bad-file")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_file"
    assert error["message"] == "2 of 4 rows are bad; the file was not read past line 6. Nothing was loaded."
    assert error["bad_rows"] == 2
    assert [(row["line"], row["column"]) for row in error["rows"]] == [
        (4, "BilledCost"),
        (5, "ChargePeriodStart"),
        (6, ""),
    ]
    assert "YYYY-MM-DDTHH:mm:ssZ" in error["rows"][1]["message"]
    assert "NUL" in error["rows"][2]["message"]
    load = CostLoad.objects.get(source=source, billing_period_start=date(2026, 11, 1))
    assert load.loads == 1
    assert load.totals["USD"]["billed"] == "100.0000000000"
    # Nothing was recorded under the key: once the file is fixed, the same key loads it.
    assert upload(manager, source, focus_csv(GOOD).encode(), key="bad-file").status_code == 201


def test_the_limits_of_the_page_hold_for_the_api(manager: Client, source: CostSource, settings: Any) -> None:
    settings.COSTS_UPLOAD_MAX_ROWS = 1

    over_rows = upload(manager, source, focus_csv(GOOD).encode())
    settings.COSTS_UPLOAD_MAX_BYTES = 1024
    too_big = upload(manager, source, focus_csv([focus_row() for _ in range(20)]).encode())

    assert over_rows.status_code == 400
    assert "more than 1 rows; files of up to 1 are accepted" in over_rows.json()["error"]["rows"][-1]["message"]
    assert too_big.status_code == 400
    assert "files up to 1.0\xa0KB are accepted" in too_big.json()["error"]["fields"]["file"][0]
    assert not CostLineItem.objects.exists()


def test_only_upload_sources_take_files_and_only_from_who_may_change_them(
    client_for: Callable[[Persona | None], Client], manager: Client, source: CostSource
) -> None:
    export = CostSource.objects.create(name="aws-focus", kind=SourceKind.FOCUS_EXPORT, bucket="b")
    content = focus_csv(GOOD).encode()

    not_upload = upload(manager, export, content)
    developer = upload(client_for(Persona.DEVELOPER), source, content)
    anonymous = upload(client_for(None), source, content)

    assert not_upload.status_code == 400
    assert "is not an upload source" in str(not_upload.json()["error"]["fields"])
    assert developer.status_code == 404
    assert anonymous.status_code in (401, 403)
    assert not CostLineItem.objects.exists()


def test_the_schema_documents_the_upload_and_its_idempotency_key(manager: Client) -> None:
    schema = manager.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/cost-sources/{id}/upload/"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]]
    assert {"200", "201", "400", "422"} <= set(operation["responses"])
