"""Cost queries refuse what they cannot answer: dates outside 2000-01-01 to five years ahead, a range that ends
before it starts, unknown parameters, filters and values; a 400 naming the valid ones on the API and the export,
a message on the pages, never a 500 and never the unfiltered figure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent
from costs import reports
from costs.forms import QUERY_PARAMETERS
from portal.demo import Persona
from regions.models import Cluster
from tests.costs.cost_world import load_rows
from tests.costs.focus_files import focus_row

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

API = "/api/costs/breakdown/"
API_EXPORT = "/api/costs/breakdown/export/"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def manager(client_for: Callable[[Persona | None], Client]) -> Client:
    load_rows([focus_row("2026-11-02", "10.00"), focus_row("2026-11-03", "5.00", ChargeCategory="Tax")])
    return client_for(Persona.MANAGER)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "0001-01-01"}, "from", "0001-01-01 is outside the dates costs cover (2000-01-01 to"),
        ({"to": "9999-12-31"}, "to", "9999-12-31 is outside the dates costs cover"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "from", "after it ends"),
    ],
)
@pytest.mark.parametrize("url", [API, API_EXPORT])
def test_dates_out_of_range_are_a_structured_400_on_the_api_and_its_export(
    manager: Client, url: str, params: dict[str, str], field: str, message: str
) -> None:
    response = manager.get(url, params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert message in error["fields"][field][0]
    assert not AuditEvent.objects.filter(verb="costs.exported").exists()


@pytest.mark.parametrize(("url", "status"), [(reverse("costs:breakdown"), 200), (reverse("costs:export"), 400)])
def test_a_date_out_of_range_is_a_message_on_the_page_and_its_export(manager: Client, url: str, status: int) -> None:
    response = manager.get(url, {"from": "0001-01-01"})

    assert response.status_code == status  # the page shows its errors in place (htmx swaps only a 2xx answer)
    assert "0001-01-01 is outside the dates costs cover" in response.content.decode()
    assert "result" not in response.context


@pytest.mark.parametrize("url", [API, API_EXPORT])
def test_an_unknown_parameter_is_a_400_listing_the_valid_ones(manager: Client, url: str) -> None:
    response = manager.get(url, {**NOVEMBER, "comitment_status": "unused", "colour": "blue"})

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"comitment_status", "colour"}
    message = fields["colour"][0]
    assert message.startswith("Unknown parameter 'colour'; the parameters are: ")
    # The valid names are the query's own and one filter per dimension, whatever the dimensions are.
    for name in [*QUERY_PARAMETERS, *reports.DIMENSIONS]:
        assert name in message
    assert ("rows" in message) == (url == API_EXPORT)


def test_an_unknown_value_of_a_coded_filter_is_a_400_not_the_unfiltered_figure(manager: Client) -> None:
    response = manager.get(API, {**NOVEMBER, "charge_category": "gift"})
    known = manager.get(API, {**NOVEMBER, "charge_category": "tax"})

    assert response.status_code == 400
    message = response.json()["error"]["fields"]["charge_category"][0]
    assert "'gift' is not a charge category" in message
    assert "usage" in message
    assert known.status_code == 200
    assert [total["amount"] for total in known.json()["totals"]] == ["5.00"]


def test_unknown_dimensions_and_bases_are_400s_naming_the_valid_ones(manager: Client) -> None:
    by = manager.get(API, {"by": "colour"})
    basis = manager.get(API, {"basis": "cheapest"})

    assert by.status_code == 400
    assert all(name in by.json()["error"]["fields"]["by"][0] for name in reports.DIMENSIONS)
    assert basis.status_code == 400
    assert (
        "The cost basis is effective, billed, list or contracted, not cheapest."
        in basis.json()["error"]["fields"]["basis"][0]
    )


@pytest.mark.parametrize(("url", "status"), [(reverse("costs:breakdown"), 200), (reverse("costs:export"), 400)])
def test_an_unknown_parameter_is_a_message_on_the_page_not_the_unfiltered_figure(
    manager: Client, url: str, status: int
) -> None:
    response = manager.get(url, {**NOVEMBER, "commitment_state": "unused"})

    assert response.status_code == status
    assert "result" not in response.context
    page = response.content.decode()
    assert "Unknown parameter &#x27;commitment_state&#x27;; the parameters are: by, from, to" in page
    assert not AuditEvent.objects.filter(verb="costs.exported").exists()


def test_the_overview_names_an_unknown_parameter_instead_of_ignoring_it(manager: Client) -> None:
    response = manager.get(reverse("costs:overview"), {"team": "payments"})

    assert response.status_code == 200
    assert "Unknown parameter &#x27;team&#x27;; the parameters are: basis." in response.content.decode()


def test_a_valid_query_still_answers(manager: Client) -> None:
    response = manager.get(API, {**NOVEMBER, "by": "charge_category", "format": "json"})

    assert response.status_code == 200
    assert response.json()["from"] == str(date(2026, 11, 1))


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("/api/prices/", {"provider": "aws", "region_code": "eu-west-1", "page": "1"}),
        ("/api/cost-sources/", {"page_size": "10"}),
        ("/api/attribution-rules/", {"page": "1"}),
        ("/api/budgets/", {"page": "1"}),
        ("/api/cost-anomalies/", {"page": "1"}),
    ],
)
def test_the_other_costs_endpoints_refuse_a_parameter_they_do_not_take(
    manager: Client, url: str, valid: dict[str, str]
) -> None:
    accepted = manager.get(url, valid)
    refused = manager.get(url, {**valid, "tema": "payments"})

    assert accepted.status_code == 200
    assert refused.status_code == 400
    message = refused.json()["error"]["fields"]["tema"][0]
    assert message.startswith("Unknown parameter 'tema'; the parameters are: format, page, page_size")
    assert all(name in message for name in valid)


@pytest.mark.parametrize("name", ["costs:allocation", "costs:allocation_export"])
def test_a_cluster_allocation_range_out_of_bounds_is_a_message_not_a_date_overflow(manager: Client, name: str) -> None:
    cluster = Cluster.objects.get(name="eks-eu-west-1")

    response = manager.get(reverse(name, kwargs={"cluster_id": cluster.pk}), {"end": "0001-01-01"})

    assert response.status_code == 400
    assert "0001-01-01 is outside the dates costs cover" in response.content.decode()
