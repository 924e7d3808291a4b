"""The cost API: the breakdown as JSON (exact decimal strings, per currency), its CSV export, structured 400s
for bad parameters, the same scope as the pages, and both endpoints in the OpenAPI schema."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from portal.demo import Persona
from tests.costs.cost_world import PLATFORM, STUDENTS, load_rows, november_bill, row
from tests.helpers import ONE_LINE_FORMULA_PAYLOADS, formulas_in

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

BREAKDOWN = reverse("cost-breakdown")
EXPORT = reverse("cost-breakdown-export")
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def test_the_breakdown_answers_exact_amounts_per_team_and_currency(
    client_for: Callable[[Persona | None], Client],
) -> None:
    load_rows(november_bill())

    body = client_for(Persona.MANAGER).get(BREAKDOWN, {**NOVEMBER, "by": "team", "grouping": "week"}).json()

    assert (body["by"], body["from"], body["to"], body["grouping"], body["basis"]) == (
        "team",
        "2026-11-01",
        "2026-11-30",
        "week",
        "effective",
    )
    assert body["totals"] == [
        {"currency": "EUR", "amount": "19.75", "unallocated": "2.50", "line_items": 2},
        {"currency": "USD", "amount": "206.353", "unallocated": "7.77", "line_items": 7},
    ]
    rows = {(row["key"], row["currency"]): row["amount"] for row in body["rows"]}
    assert rows == {
        (STUDENTS, "USD"): "148.25",
        (PLATFORM, "USD"): "50.333",
        (PLATFORM, "EUR"): "17.25",
        ("-", "USD"): "7.77",
        ("-", "EUR"): "2.50",
    }
    weekly_usd = sum(Decimal(point["amount"]) for point in body["series"] if point["currency"] == "USD")
    assert weekly_usd == Decimal("206.353")
    assert {point["period"] for point in body["series"]} <= {"2026-10-26", "2026-11-02"}


def test_filters_drill_down_and_repeat(client_for: Callable[[Persona | None], Client]) -> None:
    load_rows(november_bill())
    manager = client_for(Persona.MANAGER)

    body = manager.get(BREAKDOWN, {**NOVEMBER, "by": "provider", "team": [STUDENTS, PLATFORM]}).json()

    assert body["filters"] == {"team": [STUDENTS, PLATFORM]}
    assert {(row["key"], row["currency"]): row["amount"] for row in body["rows"]} == {
        ("aws", "USD"): "198.583",
        ("azure", "EUR"): "17.25",
    }


def test_a_developer_gets_only_their_teams_figures(client_for: Callable[[Persona | None], Client]) -> None:
    load_rows(november_bill())

    body = client_for(Persona.DEVELOPER).get(BREAKDOWN, {**NOVEMBER, "by": "team"}).json()

    assert [(row["key"], row["amount"]) for row in body["rows"]] == [(STUDENTS, "148.25")]
    assert body["totals"] == [{"currency": "USD", "amount": "148.25", "unallocated": "0.00", "line_items": 4}]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "colour"}, "by"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"grouping": "hour"}, "grouping"),
        ({"basis": "cheapest"}, "basis"),
        ({"environment": "x"}, "environment"),
    ],
)
def test_bad_parameters_are_a_structured_400(
    client_for: Callable[[Persona | None], Client], params: dict[str, str], field: str
) -> None:
    response = client_for(Persona.MANAGER).get(BREAKDOWN, params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert error["fields"][field][0]


def test_the_export_streams_csv_for_exporters_and_is_audited(client_for: Callable[[Persona | None], Client]) -> None:
    load_rows(november_bill())

    response = client_for(Persona.MANAGER).get(EXPORT, {**NOVEMBER, "by": "charge_category", "rows": "totals"})

    assert response.status_code == 200
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert {(line["charge_category"], line["currency"]): line["effective_cost"] for line in lines} == {
        ("usage", "USD"): "211.3530000000",
        ("credit", "USD"): "-5.0000000000",
        ("usage", "EUR"): "19.7500000000",
    }
    assert AuditEvent.objects.filter(verb="costs.exported").count() == 1


def test_the_export_writes_no_cell_a_spreadsheet_of_any_locale_would_run(
    client_for: Callable[[Persona | None], Client],
) -> None:
    load_rows([row(date(2026, 11, 1), "1.00", ServiceName=name) for name in ONE_LINE_FORMULA_PAYLOADS])

    response = client_for(Persona.MANAGER).get(EXPORT, {**NOVEMBER, "by": "service_name"})

    assert formulas_in(b"".join(response.streaming_content).decode()) == []  # type: ignore[attr-defined]


def test_the_export_refuses_who_may_not_export_and_bad_parameters(
    client_for: Callable[[Persona | None], Client],
) -> None:
    refused = client_for(Persona.DEVELOPER).get(EXPORT, NOVEMBER)
    bad = client_for(Persona.MANAGER).get(EXPORT, {"rows": "everything"})

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["rows"]
    assert not AuditEvent.objects.filter(verb="costs.exported").exists()


def test_the_schema_describes_the_cost_endpoints(client_for: Callable[[Persona | None], Client]) -> None:
    schema = client_for(Persona.DEVELOPER).get("/api/schema/", {"format": "json"}).json()

    breakdown = schema["paths"]["/api/costs/breakdown/"]["get"]
    names = {parameter["name"] for parameter in breakdown["parameters"]}
    assert {"by", "from", "to", "grouping", "basis", "team", "service", "environment"} <= names
    assert "/api/costs/breakdown/export/" in schema["paths"]
    assert "CostBreakdown" in schema["components"]["schemas"]
