"""One team budget: the environment request form reads the team's budget of Costs -> Budgets (amount, spent,
what is left), links to it, says when there is none, and holds a request costing more than what is left."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from time_machine import TimeMachineFixture

from access.models import Team
from costs.budgets.models import Budget
from costs.focus import FocusRow
from costs.models import CostSource
from costs.store import TEAM_TAG, load_period, month_start
from environments.models import EnvironmentTemplate
from portal.demo import Persona
from regions.models import Cluster

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
CHECK = reverse("environments:request_check")


@pytest.fixture(autouse=True)
def sandbox(demo: None, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path


def team() -> Team:
    return Team.objects.get(slug="student-experience")


def request_form() -> dict[str, Any]:
    return {
        "name": "checkout-preview",
        "team": team().pk,
        "template": EnvironmentTemplate.objects.get(slug="preview").pk,
        "cluster": Cluster.objects.get(name="eks-eu-west-1").pk,
        "size": "S",
        "ttl_hours": "",
        "idempotency_key": "form-1",
    }


def spend(amount: str) -> None:
    """The team's cost on the first day of this month, as a bill upload would load it."""
    first = month_start(timezone.localdate())
    source = CostSource.objects.create(name="team-bill", kind="upload")
    row = FocusRow(
        charge_date=first,
        billing_period_start=first,
        charge_category="usage",
        billed_cost=Decimal(amount),
        effective_cost=Decimal(amount),
        list_cost=Decimal(amount),
        currency="USD",
        provider="aws",
        billing_account_id="111111111111",
        tags={TEAM_TAG: "student-experience"},
    )
    load_period(source, first, [row])


def budgets_page_row(client: Client, budget: Budget) -> list[str]:
    """The cells of the budget's row on Costs -> Budgets, as text."""
    page = client.get(reverse("costs:budgets")).content.decode()
    row = re.search(rf'<tr data-budget="{budget.pk}">(.*?)</tr>', page, re.DOTALL)
    assert row is not None
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.DOTALL)
    ]


def test_the_request_form_shows_the_budget_that_costs_budgets_shows(client_for: ClientFor) -> None:
    budget = Budget.objects.create(name="Student Experience monthly", team=team(), amount=Decimal(1000))
    spend("240.00")
    developer = client_for(Persona.DEVELOPER)

    cells = budgets_page_row(developer, budget)
    page = developer.post(CHECK, request_form(), HTTP_HX_REQUEST="true").content.decode()

    amount, spent = cells[3], cells[4]
    assert amount == "1,000.00 USD"
    assert f'<span data-check="budget-spent">{spent}</span>' in page
    left = Decimal(1000) - Decimal(spent.replace(",", ""))
    assert f"Team budget left: USD {left:,.2f} of 1,000.00" in page
    assert f'href="{reverse("costs:budget", args=[budget.pk])}" data-check="budget-link"' in page


def test_without_a_budget_the_form_says_so_and_links_to_where_one_is_set(client_for: ClientFor) -> None:
    page = client_for(Persona.DEVELOPER).post(CHECK, request_form(), HTTP_HX_REQUEST="true").content.decode()

    assert "Student Experience has no budget" in page
    assert f'<a href="{reverse("costs:budgets")}">Costs &rarr; Budgets</a>' in page
    assert 'data-check="budget-left"' not in page
    assert 'data-check="allowed"' in page


def test_a_request_costing_more_than_the_budget_has_left_needs_the_team_lead(
    client_for: ClientFor, time_machine: TimeMachineFixture
) -> None:
    # The second of this month: the first is a complete day, so its spend counts (on the first, nothing has yet).
    second = month_start(timezone.localdate()) + timedelta(days=1)
    time_machine.move_to(datetime.combine(second, time(12), tzinfo=UTC), tick=False)
    Budget.objects.create(name="Student Experience monthly", team=team(), amount=Decimal(1000))
    spend("995.00")

    page = client_for(Persona.DEVELOPER).post(CHECK, request_form(), HTTP_HX_REQUEST="true").content.decode()

    assert 'data-check="needs-approval"' in page
    assert "Over the team&#x27;s monthly budget by USD" in page
    assert "(USD 5.00 left, this needs" in page


def test_an_inactive_budget_is_not_the_teams_budget(client_for: ClientFor) -> None:
    Budget.objects.create(name="Last year's", team=team(), amount=Decimal(5), active=False)

    page = client_for(Persona.DEVELOPER).post(CHECK, request_form(), HTTP_HX_REQUEST="true").content.decode()

    assert "Student Experience has no budget" in page
