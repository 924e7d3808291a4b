"""The savings API does what the savings page does: the same rows for the same person, the same filters, and the
same audited actions, each safe to repeat, each refusal a structured error in words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from access.models import AuditEvent
from costs.choices import RecommendationKind, RecommendationStatus
from environments.models import Environment
from portal.demo import Persona
from tests.costs.savings_data import make_environment
from tests.costs.test_savings_pages import recommendation, ttl_recommendation
from tests.helpers import queries_for

pytestmark = [pytest.mark.usefixtures("demo"), pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
SAVINGS = "/api/savings/"


def titles(client: Client, **params: str) -> list[str]:
    answer = client.get(SAVINGS, params)
    assert answer.status_code == 200, answer.content
    return [row["title"] for row in answer.json()["results"]]


def test_each_persona_lists_what_the_page_shows_them_with_the_pages_filters(client_for: ClientFor) -> None:
    recommendation("Smaller database for checkout", "77.38")
    recommendation("Spot for the student portal", "12.00", kind=RecommendationKind.SPOT, namespace="portal")
    recommendation("Smaller database for tutor rota", "500.00", team="tutor-tools")
    developer, manager = client_for(Persona.DEVELOPER), client_for(Persona.MANAGER)

    assert titles(developer) == ["Smaller database for checkout", "Spot for the student portal"]
    assert titles(manager) == [
        "Smaller database for tutor rota",
        "Smaller database for checkout",
        "Spot for the student portal",
    ]
    assert titles(manager, team="tutor-tools") == ["Smaller database for tutor rota"]
    assert titles(manager, kind="spot") == ["Spot for the student portal"]
    assert titles(manager, q="portal") == ["Spot for the student portal"]
    assert client_for(Persona.AUDITOR).get(SAVINGS).status_code == 403
    assert client_for(None).get(SAVINGS).status_code == 401


def test_the_list_runs_the_same_queries_however_many_rows_it_shows(client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)
    recommendation("First", "1.00")
    few = queries_for(developer, SAVINGS)
    for number in range(8):
        recommendation(f"More {number}", "2.00")
        ttl_recommendation(make_environment(f"more-{number}"))

    assert queries_for(developer, SAVINGS) == few


def test_bad_filters_are_400s_in_words(client_for: ClientFor) -> None:
    manager = client_for(Persona.MANAGER)

    kind = manager.get(SAVINGS, {"kind": "cheaper"})
    team = manager.get(SAVINGS, {"team": "no-such-team"})
    unknown = manager.get(SAVINGS, {"tema": "tutor-tools"})

    assert kind.status_code == team.status_code == unknown.status_code == 400
    assert kind.json()["error"]["fields"]["kind"][0].startswith("Choose a kind of recommendation: environment_ttl")
    assert "tema" in unknown.json()["error"]["fields"]


def test_a_manager_dismisses_once_however_often_it_is_sent(client_for: ClientFor) -> None:
    item = recommendation("Smaller database for checkout", "77.38")
    manager = client_for(Persona.MANAGER)
    path = f"{SAVINGS}{item.pk}/dismiss/"

    first = manager.post(path, HTTP_IDEMPOTENCY_KEY="dismiss-1")
    replayed = manager.post(path, HTTP_IDEMPOTENCY_KEY="dismiss-1")
    again = manager.post(path)

    assert first.status_code == replayed.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == RecommendationStatus.DISMISSED
    assert replayed.headers["Idempotency-Replayed"] == "true"
    assert AuditEvent.objects.filter(verb="costs.recommendation_dismissed", object_id=str(item.pk)).count() == 1
    assert titles(manager) == []


def test_a_snooze_takes_its_days_and_refuses_days_out_of_range_in_words(client_for: ClientFor) -> None:
    item = recommendation("Smaller database for checkout", "77.38")
    manager = client_for(Persona.MANAGER)
    path = f"{SAVINGS}{item.pk}/snooze/"

    too_long = manager.post(path, {"days": 400}, content_type="application/json")
    not_a_number = manager.post(path, {"days": "soon"}, content_type="application/json")
    snoozed = manager.post(path, {"days": 14}, content_type="application/json")

    assert too_long.status_code == not_a_number.status_code == 400
    assert too_long.json()["error"]["fields"]["days"] == ["Snooze for 1 to 365 days."]
    assert not_a_number.json()["error"]["fields"]["days"] == ["Give the number of days as a whole number, 1 to 365."]
    assert snoozed.status_code == 200
    item.refresh_from_db()
    assert item.snoozed_until is not None
    assert timezone.now() + timedelta(days=13) < item.snoozed_until <= timezone.now() + timedelta(days=14)
    assert AuditEvent.objects.filter(verb="costs.recommendation_snoozed", object_id=str(item.pk)).count() == 1


def test_dismissing_needs_costs_change_and_other_teams_recommendations_are_not_found(client_for: ClientFor) -> None:
    ours = recommendation("Smaller database for checkout", "77.38")
    theirs = recommendation("Smaller database for tutor rota", "500.00", team="tutor-tools")
    developer = client_for(Persona.DEVELOPER)

    refused = developer.post(f"{SAVINGS}{ours.pk}/dismiss/")
    hidden = developer.post(f"{SAVINGS}{theirs.pk}/snooze/", {"days": 3}, content_type="application/json")

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert hidden.status_code == 404
    assert developer.get(f"{SAVINGS}{theirs.pk}/").status_code == 404
    assert developer.get(f"{SAVINGS}{ours.pk}/").json()["can_change"] is False
    assert not AuditEvent.objects.filter(verb__startswith="costs.recommendation_").exists()


def test_a_developer_sets_the_recommended_lifetime_and_a_manager_may_not(client_for: ClientFor) -> None:
    environment = make_environment("forever")
    item = ttl_recommendation(environment)
    developer, manager = client_for(Persona.DEVELOPER), client_for(Persona.MANAGER)
    path = f"{SAVINGS}{item.pk}/set-ttl/"

    assert manager.post(path).status_code == 403
    shown = developer.get(f"{SAVINGS}{item.pk}/").json()
    first = developer.post(path)
    again = developer.post(path)

    assert shown["can_set_ttl"] is True
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == RecommendationStatus.ACTED
    environment.refresh_from_db()
    assert environment.expires_at is not None
    assert AuditEvent.objects.filter(verb="environments.expiry_set", object_id=str(environment.pk)).count() == 1


def test_a_lifetime_the_template_refuses_and_a_recommendation_without_one_are_400s(client_for: ClientFor) -> None:
    environment = make_environment("preview-forever", template="preview")
    too_long = ttl_recommendation(environment, hours=500)  # more than the template's 72 hours
    no_lifetime = recommendation("Smaller database for checkout", "77.38")
    developer = client_for(Persona.DEVELOPER)

    refused = developer.post(f"{SAVINGS}{too_long.pk}/set-ttl/")
    nothing = developer.post(f"{SAVINGS}{no_lifetime.pk}/set-ttl/")

    assert refused.status_code == nothing.status_code == 400
    assert "at most 72 hours" in str(refused.json()["error"]["fields"])
    assert nothing.json()["error"]["fields"]["non_field_errors"] == ["This recommendation has no lifetime to set."]
    assert Environment.objects.get(pk=environment.pk).expires_at is None
