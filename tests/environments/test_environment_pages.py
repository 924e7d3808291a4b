"""Environment pages: the list, the request form with its live check, the environment page and its actions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from access.models import Team, User
from approvals.models import ApprovalRequest
from costs.budgets.models import Budget
from environments import selectors, services
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate, TeamLimits
from portal.demo import Persona
from regions.models import Cluster
from tests.environments.test_provisioning_workflow import run_to_the_end
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
LIST = reverse("environments:list")
REQUEST = reverse("environments:request")
CHECK = reverse("environments:request_check")


@pytest.fixture(autouse=True)
def sandbox(demo: None, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


def cluster(name: str = "eks-eu-west-1") -> Cluster:
    return Cluster.objects.get(name=name)


def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "checkout-preview",
        "team": Team.objects.get(slug="student-experience").pk,
        "template": EnvironmentTemplate.objects.get(slug="preview").pk,
        "cluster": cluster().pk,
        "size": "S",
        "ttl_hours": "",
        "idempotency_key": "form-1",
    }
    data.update(changes)
    return data


def make(name: str, *, team: str = "student-experience", status: str = EnvironmentStatus.READY) -> Environment:
    return Environment.objects.create(
        name=name,
        team=Team.objects.get(slug=team),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        tier="development",
        cluster=cluster(),
        requested_by=User.objects.get(username="developer"),
        status=status,
        monthly_estimate="12.50",
        currency="USD",
    )


def test_a_developer_requests_an_environment_and_lands_on_its_page(developer: Client) -> None:
    response = developer.post(REQUEST, form())

    environment = Environment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("environments:detail", args=[environment.pk])
    assert environment.status == EnvironmentStatus.PROVISIONING
    page = developer.get(response["Location"]).content.decode()
    assert "checkout-preview" in page
    assert 'data-step-status="pending"' in page


def test_a_double_submit_creates_one_environment(developer: Client) -> None:
    first = developer.post(REQUEST, form())
    second = developer.post(REQUEST, form())

    assert first["Location"] == second["Location"]
    assert Environment.objects.count() == 1


def test_the_live_check_shows_the_estimate_and_the_budget_left_before_submit(developer: Client) -> None:
    Budget.objects.create(name="SX monthly", team=Team.objects.get(slug="student-experience"), amount=Decimal(1000))

    page = developer.post(CHECK, form(), HTTP_HX_REQUEST="true").content.decode()

    assert 'data-check="estimate"' in page
    assert 'data-check="budget-left"' in page
    assert "USD 1,000.00 of 1,000.00" in page
    assert 'data-check="allowed"' in page
    assert not Environment.objects.exists()


def test_the_live_check_says_a_name_is_taken(developer: Client) -> None:
    make("checkout-preview")

    page = developer.post(CHECK, form()).content.decode()

    assert "already has an environment named checkout-preview" in page


def test_the_live_check_explains_a_residency_refusal(developer: Client) -> None:
    staging = EnvironmentTemplate.objects.get(slug="staging")
    staging.allowed_zones = ["EU"]
    staging.save()

    page = developer.post(CHECK, form(template=staging.pk, cluster=cluster("eks-us-east-1").pk)).content.decode()

    assert 'data-check="refused"' in page
    assert "This template is for the EU zone(s); us-east-1 is in US." in page


def test_the_request_form_offers_clusters_outside_the_teams_zone(developer: Client) -> None:
    page = developer.get(REQUEST).content.decode()

    assert Team.objects.get(slug="student-experience").residency_zone == "EU"
    assert f'value="{cluster("eks-us-east-1").pk}"' in page  # offered: the live check says why it is refused


def test_the_live_check_explains_the_teams_residency_refusal(developer: Client) -> None:
    # The page's form asks the check with hx-post (it carries the CSRF token), so the test does too.
    response = developer.post(CHECK, form(cluster=cluster("eks-us-east-1").pk), HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert 'data-check="refused"' in page
    assert escape("The team's data must stay in the EU zone; us-east-1 is in US.") in page
    assert not Environment.objects.exists()


def test_the_live_check_shows_the_environments_and_monthly_estimates_left_of_the_teams_limits(
    developer: Client,
) -> None:
    for name in ("one", "two", "three"):
        make(name)  # 12.50 a month each
    team = Team.objects.get(slug="student-experience")
    TeamLimits.objects.filter(team=team).update(max_environments=5, max_monthly_estimate=2000)
    estimate = selectors.request_check(
        team_id=team.pk,
        template=EnvironmentTemplate.objects.get(slug="preview"),
        cluster=cluster(),
        size="S",
        ttl_hours=None,
    ).estimate
    assert estimate is not None

    page = developer.post(CHECK, form(), HTTP_HX_REQUEST="true").content.decode()

    assert 'data-check="allowed"' in page
    assert "Environments: 3 of 5 (2 left)" in page
    after = (Decimal("37.50") + estimate.total).quantize(Decimal("0.01"))
    assert f"Monthly estimates: USD 37.50 of 2,000.00 committed; after this request: USD {after:,}" in page


def test_the_live_check_says_when_no_environment_is_left(developer: Client) -> None:
    make("one")
    TeamLimits.objects.filter(team__slug="student-experience").update(max_environments=1)

    page = developer.post(CHECK, form(), HTTP_HX_REQUEST="true").content.decode()

    assert "Environments: 1 of 1 (none left)" in page
    assert 'data-check="refused"' in page


def test_the_live_check_shows_no_quota_for_a_team_without_limits(developer: Client) -> None:
    make("one")
    TeamLimits.objects.filter(team__slug="student-experience").delete()

    page = developer.post(CHECK, form(), HTTP_HX_REQUEST="true").content.decode()

    assert 'data-check="estimate"' in page  # the check ran
    assert 'data-check="environments-left"' not in page
    assert 'data-check="monthly-left"' not in page
    assert "Environments:" not in page
    assert "has no budget, so no request needs approval for cost" in page


def test_a_refused_request_shows_the_reasons_on_the_form_and_keeps_the_input(developer: Client) -> None:
    TeamLimits.objects.filter(team__slug="student-experience").update(max_environments=1)
    make("first")

    response = developer.post(REQUEST, form(name="second-one"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "tear one down first" in page
    assert 'value="second-one"' in page
    assert Environment.objects.count() == 1


def test_a_request_needing_approval_shows_the_approval_panel(developer: Client) -> None:
    response = developer.post(REQUEST, form(ttl_hours="100"))

    page = developer.get(response["Location"]).content.decode()
    assert 'data-approval-status="pending"' in page
    assert "past the template&#x27;s maximum" in page


def test_the_lead_approves_on_the_environment_page(developer: Client, client_for: ClientFor) -> None:
    environment_url = developer.post(REQUEST, form(ttl_hours="100"))["Location"]
    lead = client_for(Persona.TEAM_LEAD)
    page = lead.get(environment_url).content.decode()
    approval = ApprovalRequest.objects.get()
    assert reverse("approvals:decide", args=[approval.pk]) in page

    lead.post(reverse("approvals:decide", args=[approval.pk]), {"verdict": "approve"})

    assert Environment.objects.get().status == EnvironmentStatus.PROVISIONING


def test_the_environment_page_shows_endpoints_namespaces_and_addon_references_never_secrets(
    developer: Client,
) -> None:
    developer.post(REQUEST, form(template=EnvironmentTemplate.objects.get(slug="team-sandbox").pk))
    environment = Environment.objects.get()
    run = services.provisioning_run(environment)
    assert run is not None
    run_to_the_end(run)

    page = developer.get(reverse("environments:detail", args=[environment.pk])).content.decode()

    assert 'data-environment-status="ready"' in page
    assert "https://checkout-preview.student-experience.test.example.com/" in page
    assert "checkout-preview-core-services" in page
    assert 'data-section="addons"' in page
    assert "password" not in page.lower()


def test_a_torn_down_environment_says_so_and_shows_no_endpoint_namespace_or_expiry(developer: Client) -> None:
    developer.post(REQUEST, form(template=EnvironmentTemplate.objects.get(slug="team-sandbox").pk))
    environment = Environment.objects.get()
    run = services.provisioning_run(environment)
    assert run is not None
    run_to_the_end(run)
    Environment.objects.filter(pk=environment.pk).update(status=EnvironmentStatus.TORN_DOWN)

    page = developer.get(reverse("environments:detail", args=[environment.pk])).content.decode()

    assert "Torn down: its namespaces, endpoints and add-ons are gone." in page
    assert "https://checkout-preview.student-experience.test.example.com/" not in page
    assert "checkout-preview-core-services" not in page
    assert 'data-section="addons"' not in page
    assert ">Expires<" not in page


def test_teardown_asks_for_the_name_then_starts(developer: Client) -> None:
    environment = make("old-one")
    url = reverse("environments:teardown", args=[environment.pk])

    wrong = developer.post(url, {"confirm_name": "something-else"})
    assert wrong.status_code == 400
    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.READY

    developer.post(url, {"confirm_name": "old-one"})
    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.TORN_DOWN  # nothing was made


def test_the_list_filters_by_status_and_answers_htmx_with_the_table(developer: Client) -> None:
    make("ready-one")
    make("failed-one", status=EnvironmentStatus.FAILED)

    page = developer.get(LIST, {"status": "failed"}, HTTP_HX_REQUEST="true").content.decode()

    assert "failed-one" in page
    assert "ready-one" not in page
    assert "<html" not in page


def test_people_see_only_the_environments_in_their_scope(client_for: ClientFor) -> None:
    make("ours")
    make("theirs", team="tutor-tools")

    page = client_for(Persona.DEVELOPER).get(LIST).content.decode()

    assert "ours" in page
    assert "theirs" not in page
    other = Environment.objects.get(name="theirs")
    assert client_for(Persona.DEVELOPER).get(reverse("environments:detail", args=[other.pk])).status_code == 404


def test_the_list_runs_the_same_queries_however_many_environments_there_are(developer: Client) -> None:
    make("one")
    queries_for(developer, LIST)
    before = queries_for(developer, LIST)
    for number in range(10):
        make(f"more-{number}", team="student-experience" if number % 2 else "core-platform")

    assert queries_for(developer, LIST) == before


# --- a form that opens valid ---------------------------------------------------------------------------------------


class _Field(HTMLParser):
    """Reads what a browser would submit for one field of a page: the input's value, or the select's option."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.id, self.value, self.first, self.inside = f"id_{name}", "", "", False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id") == self.id:
            self.inside = tag == "select"
            if tag == "input":
                self.value = found.get("value") or ""
        elif tag == "option" and self.inside:
            self.first = self.first or (found.get("value") or "")
            if "selected" in found:
                self.value = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self.inside:
            self.inside = False
            self.value = self.value or self.first


def shown(data: dict[str, Any], **before: Any) -> dict[str, Any]:
    """The form as the page posts it: with the team and template it was last shown for (``before``, else the
    ones posted now, as when something else changed)."""
    return {
        **data,
        "shown_team": before.get("team", data["team"]),
        "shown_template": before.get("template", data["template"]),
    }


def selected(page: str, name: str) -> str:
    """The value the select ``name`` has chosen (its first option when none is marked), or the input's value."""
    reader = _Field(name)
    reader.feed(page)
    return reader.value


def test_the_form_opens_on_a_cluster_in_the_teams_zone_that_the_live_check_allows(developer: Client) -> None:
    page = developer.get(REQUEST).content.decode()

    team = Team.objects.get(pk=int(selected(page, "team")))
    chosen = Cluster.objects.select_related("region").get(pk=int(selected(page, "cluster")))
    assert team.residency_zone
    assert chosen.region.residency_zone == team.residency_zone
    check = developer.post(CHECK, form(team=team.pk, cluster=chosen.pk, template=selected(page, "template")))
    assert 'data-check="refused"' not in check.content.decode()


def test_the_lifetime_follows_the_template_and_production_opens_without_one(developer: Client) -> None:
    preview = EnvironmentTemplate.objects.get(slug="preview")
    staging = EnvironmentTemplate.objects.get(slug="staging")
    production = EnvironmentTemplate.objects.get(slug="production")

    assert selected(developer.get(REQUEST, {"template": staging.pk}).content.decode(), "ttl_hours") == "72"
    assert selected(developer.get(REQUEST, {"template": production.pk}).content.decode(), "ttl_hours") == ""
    # Choosing another template in the open form swaps its lifetime in, with the check made on it.
    swapped = developer.post(
        CHECK, shown(form(template=staging.pk, ttl_hours="24"), template=preview.pk), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="field-ttl_hours" hx-swap-oob="innerHTML"' in swapped
    assert selected(swapped, "ttl_hours") == "72"
    to_production = developer.post(
        CHECK, shown(form(template=production.pk, ttl_hours="72"), template=staging.pk), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="field-ttl_hours" hx-swap-oob="innerHTML"' in to_production
    assert selected(to_production, "ttl_hours") == ""


def test_choosing_a_team_of_another_zone_moves_the_cluster_into_it(developer: Client) -> None:
    team = Team.objects.get(slug="student-experience")
    us = Cluster.objects.get(name="eks-us-east-1")

    swapped = developer.post(
        CHECK,
        shown(form(team=team.pk, cluster=us.pk), team=Team.objects.get(slug="tutor-tools").pk),
        HTTP_HX_REQUEST="true",
    ).content.decode()

    moved = Cluster.objects.select_related("region").get(pk=int(selected(swapped, "cluster")))
    assert moved.region.residency_zone == team.residency_zone
    assert 'data-check="refused"' not in swapped
    # A change of name or size leaves the person's own choice of cluster alone (the check explains it).
    kept = developer.post(CHECK, shown(form(team=team.pk, cluster=us.pk))).content.decode()
    assert 'id="field-cluster"' not in kept
    assert 'data-check="refused"' in kept


@pytest.mark.parametrize("hours", ["99999999", "8761", "0", "-5"])
def test_a_lifetime_out_of_bounds_is_refused_in_words_on_the_form_and_the_live_check(
    developer: Client, hours: str
) -> None:
    response = developer.post(REQUEST, form(ttl_hours=hours))
    check = developer.post(CHECK, form(ttl_hours=hours))

    assert response.status_code == 200
    assert check.status_code == 200
    page = response.content.decode()
    assert ("A lifetime is at most 8,760 hours (a year)." in page) or ("A lifetime is at least one hour." in page)
    assert not Environment.objects.exists()


def test_the_service_and_the_api_refuse_a_lifetime_past_a_year(client_for: ClientFor) -> None:
    developer_user = User.objects.get(username="developer")
    with pytest.raises(ValidationError, match="at most 8,760 hours"):
        services.environment_request(
            actor=developer_user,
            team=Team.objects.get(slug="student-experience"),
            template=EnvironmentTemplate.objects.get(slug="preview"),
            cluster=cluster(),
            name="forever",
            ttl_hours=99_999_999,
        )
    api = client_for(Persona.DEVELOPER).post(
        "/api/environments/",
        {
            "name": "forever",
            "team": "student-experience",
            "template": "preview",
            "cluster": cluster().pk,
            "ttl_hours": 99_999_999,
        },
        content_type="application/json",
    )
    assert api.status_code == 400
    assert "A lifetime is at most 8,760 hours (a year)." in api.content.decode()
    assert not Environment.objects.exists()
