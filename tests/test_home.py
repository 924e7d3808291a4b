"""The home page: each demo person lands on their own work, read through the policy, in bounded queries."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.models import Team, User
from approvals.models import ApprovalRequest, ApprovalStatus
from costs.models import CostRollup
from environments.choices import EnvironmentStatus
from environments.demo import PERSONAL_ENVIRONMENTS, load_demo_personal_environments
from environments.models import Environment
from portal.demo import Persona

pytestmark = pytest.mark.django_db


@pytest.fixture
def personal(demo: None) -> None:
    load_demo_personal_environments()


def page_of(client: Client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, name: str) -> str:
    """The HTML of one home page section (``data-home="name"``), or "" when the page has none."""
    found = re.search(rf'<section[^>]*data-home="{name}".*?</section>', html, re.S)
    return found.group(0) if found else ""


def test_the_demo_gives_the_developer_and_the_lead_environments_of_their_own(personal: None) -> None:
    mine = Environment.objects.filter(requested_by__username="developer")
    assert sorted(mine.values_list("name", flat=True)) == ["checkout-preview", "load-test", "sandbox"]
    assert set(mine.values_list("team__slug", flat=True)) == {"student-experience"}
    assert Environment.objects.filter(requested_by__username="lead").count() == 1
    preview = mine.get(name="checkout-preview")
    assert preview.expires_at is not None
    assert timedelta(hours=3) < preview.expires_at - timezone.now() < timedelta(hours=5)  # 24 h, asked 20 h ago
    assert preview.monthly_estimate > 0
    waiting = ApprovalRequest.objects.get(status=ApprovalStatus.PENDING, requested_by__username="developer")
    assert waiting.subject == mine.get(name="load-test")

    assert load_demo_personal_environments() == 0  # a second load creates nothing
    assert Environment.objects.filter(requested_by__username__in=["developer", "lead"]).count() == len(
        PERSONAL_ENVIRONMENTS
    )
    assert (
        ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, requested_by__username="developer").count() == 1
    )


def test_a_developer_lands_on_their_environments_what_expires_and_their_teams_deployments(
    personal: None, client_for: Callable[[Persona | None], Client]
) -> None:
    html = page_of(client_for(Persona.DEVELOPER))

    environments = section(html, "environments")
    for name in ("checkout-preview", "sandbox", "load-test"):
        assert f'data-environment="{name}"' in environments
    assert "release-4-7" not in environments  # the lead's, not theirs
    assert "Waiting for approval" in environments
    assert 'data-expiring="checkout-preview"' in section(html, "expiring")
    assert 'data-attention="expiring"' in html
    assert "1 environment expires" in html
    assert "Request an environment" in environments

    deployments = section(html, "deployments")
    assert "Student portal" in deployments
    assert "Reporting" not in deployments  # Data & Analytics' service
    assert "Your requests waiting for others" in section(html, "my-requests")
    assert 'data-home="inventory"' not in html  # the platform summary is the admins'


def test_the_lead_finds_the_request_waiting_for_them_and_the_developer_cannot_decide_their_own(
    personal: None, client_for: Callable[[Persona | None], Client]
) -> None:
    request = ApprovalRequest.objects.get(status=ApprovalStatus.PENDING, requested_by__username="developer")

    lead = page_of(client_for(Persona.TEAM_LEAD))
    assert f'data-waiting="{request.pk}"' in section(lead, "approvals")
    assert 'data-attention="approvals"' in lead
    assert "1 approval waits" in lead
    assert 'data-environment="release-4-7"' in section(lead, "environments")

    developer = page_of(client_for(Persona.DEVELOPER))
    assert f'data-waiting="{request.pk}"' not in developer
    assert "Nothing waits for your approval." in section(developer, "approvals")


def test_the_manager_sees_every_teams_spend_with_the_ones_over_budget_first(
    personal: None, client_for: Callable[[Persona | None], Client]
) -> None:
    from costs.demo import load_demo_costs

    load_demo_costs()
    html = page_of(client_for(Persona.MANAGER))

    budgets = section(html, "budgets")
    items = re.findall(r'<li class="list-group-item" data-budget="([a-z-]+)">(.*?)</li>', budgets, re.S)
    assert {slug for slug, _ in items} == set(Team.objects.values_list("slug", flat=True))
    slug, first = items[0]
    assert slug == "student-experience"  # the demo's one team heading over its budget, first
    assert "Over budget" in first or "Heading over" in first
    assert all("Within budget" in item for _, item in items[1:])
    assert 'data-home="environments"' not in html  # on no team: no "your environments"
    assert 'data-attention="budgets"' in html
    assert "Reporting" in section(html, "anomalies")  # the demo's spike in Data & Analytics' service

    developer = page_of(client_for(Persona.DEVELOPER))
    assert 'data-home="anomalies"' not in developer
    developer = section(developer, "budgets")
    assert re.findall(r'data-budget="([a-z-]+)"', developer) == ["student-experience"]  # their team's only
    assert "Reporting" not in developer


def test_the_developers_environments_show_their_cost_to_date(
    personal: None, client_for: Callable[[Persona | None], Client]
) -> None:
    sandbox = Environment.objects.get(requested_by__username="developer", name="sandbox")
    yesterday = timezone.localdate() - timedelta(days=1)
    CostRollup.objects.create(**_rollup(sandbox, yesterday, Decimal("12.50")))
    CostRollup.objects.create(**_rollup(sandbox, yesterday - timedelta(days=1), Decimal("7.25")))

    environments = section(page_of(client_for(Persona.DEVELOPER)), "environments")

    row = re.search(r'<tr data-environment="sandbox">.*?</tr>', environments, re.S)
    assert row is not None
    assert "USD 19.75" in row.group(0)
    preview = re.search(r'<tr data-environment="checkout-preview">.*?</tr>', environments, re.S)
    assert preview is not None
    assert "none yet" in preview.group(0)


def _rollup(environment: Environment, day: object, amount: Decimal) -> dict[str, object]:
    return {
        "day": day,
        "billing_period_start": timezone.localdate().replace(day=1),
        "currency": "USD",
        "provider": "aws",
        "charge_category": "usage",
        "allocation": "direct",
        "team": environment.team,
        "environment": environment,
        "billed_cost": amount,
        "effective_cost": amount,
        "list_cost": amount,
        "contracted_cost": amount,
        "line_items": 1,
    }


def test_the_admin_keeps_the_platform_summary_and_the_auditor_sees_the_latest_privileged_actions(
    personal: None, client_for: Callable[[Persona | None], Client]
) -> None:
    admin = page_of(client_for(Persona.PLATFORM_ADMIN))
    assert "Platform at a glance" in section(admin, "inventory")
    assert 'data-home="audit"' not in admin

    auditor = page_of(client_for(Persona.AUDITOR))
    assert 'data-home="inventory"' not in auditor
    assert "Latest privileged actions" in section(auditor, "audit")


def test_the_home_page_reads_in_the_same_number_of_queries_however_many_environments(
    personal: None, persona: Callable[[Persona], User]
) -> None:
    developer = persona(Persona.DEVELOPER)
    client = Client()
    client.force_login(developer)
    page_of(client)  # warm: sessions, the policy's rules

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page_of(client)
        return len(captured)

    before = queries()
    like = Environment.objects.get(requested_by=developer, name="sandbox")
    for number in range(12):
        Environment.objects.create(
            name=f"extra-{number}",
            team=like.team,
            template=like.template,
            tier=like.tier,
            cluster=like.cluster,
            requested_by=developer,
            status=EnvironmentStatus.READY,
            monthly_estimate=like.monthly_estimate,
            currency=like.currency,
            expires_at=timezone.now() + timedelta(hours=number + 1),
        )
    assert queries() == before


def test_all_of_yours_lists_only_the_environments_one_asked_for(
    personal: None, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.TEAM_LEAD).get("/environments/?mine=1")

    html = response.content.decode()
    assert response.status_code == 200
    assert "release-4-7" in html
    assert "checkout-preview" not in html  # the developer's, in the same team
    assert "checkout-preview" in client_for(Persona.TEAM_LEAD).get("/environments/").content.decode()
