"""The scorecards API beyond reading: the platform admin creates, changes and deletes scorecards and rules and asks
for an evaluation now, as on the pages; everyone else is refused with the reason, and bad input is said in words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from access.audit import services as audit
from access.models import AuditEvent
from portal.demo import Persona
from scorecards.models import Scorecard, ScorecardRule

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]


def send(client: Client, method: str, path: str, body: Any = None, key: str = "") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return getattr(client, method)(path, body or {}, content_type="application/json", headers=headers)


def test_the_platform_admin_builds_a_scorecard_rule_by_rule(client_for: ClientFor) -> None:
    admin = client_for(Persona.PLATFORM_ADMIN)

    created = send(admin, "post", "/api/scorecards/", {"name": "Exam readiness", "description": "For exam week."})
    scorecard = created.json()["id"]
    renamed = send(admin, "patch", f"/api/scorecards/{scorecard}/", {"name": "Exam week readiness"})
    rule = send(
        admin,
        "post",
        "/api/scorecard-rules/",
        {"scorecard": scorecard, "kind": "deployed_within", "level": "silver", "days": 7},
    )
    changed = send(admin, "patch", f"/api/scorecard-rules/{rule.json()['id']}/", {"days": 3})

    assert created.status_code == 201, created.content
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Exam week readiness"
    assert rule.status_code == 201, rule.content
    assert rule.json()["title"] == "Deployed to production within 7 days"
    assert changed.status_code == 200
    assert changed.json()["title"] == "Deployed to production within 3 days"
    assert changed.json()["level"] == "silver"  # what the change did not name stays
    listed = admin.get("/api/scorecard-rules/", {"scorecard": scorecard}).json()["results"]
    assert [row["title"] for row in listed] == ["Deployed to production within 3 days"]
    verbs = set(AuditEvent.objects.filter(verb__startswith="scorecards.").values_list("verb", flat=True))
    assert {audit.SCORECARD_CREATED, audit.SCORECARD_CHANGED, audit.SCORECARD_RULE_CREATED} <= verbs
    assert send(admin, "delete", f"/api/scorecard-rules/{rule.json()['id']}/").status_code == 204
    assert send(admin, "delete", f"/api/scorecards/{scorecard}/").status_code == 204
    assert not Scorecard.objects.filter(pk=scorecard).exists()


def test_an_evaluation_is_asked_once_per_key_and_only_by_the_platform_admin(client_for: ClientFor) -> None:
    scorecard = Scorecard.objects.get(name="Production readiness")
    path = f"/api/scorecards/{scorecard.pk}/evaluate/"

    refused = send(client_for(Persona.TEAM_LEAD), "post", path)
    first = send(client_for(Persona.PLATFORM_ADMIN), "post", path, key="evaluate-1")
    again = send(client_for(Persona.PLATFORM_ADMIN), "post", path, key="evaluate-1")

    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Only platform admins may change scorecards and rules."
    assert first.status_code == 202
    assert first.json()["status"] == "queued"
    assert again.status_code == 202
    assert again.headers["Idempotency-Replayed"] == "true"
    asked = AuditEvent.objects.filter(verb=audit.SCORECARD_EVALUATION_REQUESTED, object_id=str(scorecard.pk))
    assert asked.count() == 1
    assert len(connection.run_on_commit) == 1  # one evaluation for the worker, once the request commits


def test_others_may_read_but_not_write_and_bad_rules_are_said_in_words(client_for: ClientFor) -> None:
    scorecard = Scorecard.objects.get(name="Production readiness")
    rule = ScorecardRule.objects.filter(scorecard=scorecard).order_by("pk").first()
    assert rule is not None
    developer = client_for(Persona.DEVELOPER)
    admin = client_for(Persona.PLATFORM_ADMIN)

    create = send(developer, "post", "/api/scorecards/", {"name": "Mine"})
    change = send(developer, "patch", f"/api/scorecard-rules/{rule.pk}/", {"description": "Mine now."})
    delete = send(developer, "delete", f"/api/scorecards/{scorecard.pk}/")
    no_days = send(admin, "post", "/api/scorecard-rules/", {"scorecard": scorecard.pk, "kind": "deployed_within"})
    no_days_level = send(
        admin, "post", "/api/scorecard-rules/", {"scorecard": scorecard.pk, "kind": "deployed_within", "level": "gold"}
    )
    bad_percent = send(
        admin,
        "post",
        "/api/scorecard-rules/",
        {"scorecard": scorecard.pk, "kind": "change_failure_rate", "level": "gold", "percent": "250"},
    )
    no_scorecard = send(admin, "post", "/api/scorecard-rules/", {"scorecard": 999999, "kind": "owner", "level": "gold"})
    same_name = send(admin, "post", "/api/scorecards/", {"name": "production READINESS"})

    assert create.status_code == 403
    assert create.json()["error"]["message"] == "Only platform admins may create scorecards and rules."
    assert change.status_code == 403
    assert delete.status_code == 403
    assert developer.get(f"/api/scorecard-rules/{rule.pk}/").status_code == 200
    assert no_days.status_code == 400
    assert no_days.json()["error"]["fields"] == {
        "level": ["Choose the level the rule belongs to: bronze, silver or gold."]
    }
    assert no_days_level.json()["error"]["fields"] == {"days": ["Give a whole number of days from 1 to 365, e.g. 14."]}
    assert bad_percent.status_code == 400
    assert "percent" in bad_percent.json()["error"]["fields"]
    assert no_scorecard.json()["error"]["fields"] == {"scorecard": ["There is no scorecard with that number."]}
    assert same_name.json()["error"]["fields"] == {
        "name": ["There is already a scorecard named production READINESS; pick another name."]
    }
    assert not Scorecard.objects.filter(name="Mine").exists()
    assert Scorecard.objects.filter(pk=scorecard.pk).exists()
    assert ScorecardRule.objects.get(pk=rule.pk).description == rule.description


def test_the_rule_list_needs_no_query_per_rule(client_for: ClientFor, django_assert_max_num_queries: Any) -> None:
    scorecard = Scorecard.objects.create(name="Exam readiness")
    for days in range(1, 9):
        ScorecardRule.objects.create(scorecard=scorecard, kind="deployed_within", level="gold", days=days)
    developer = client_for(Persona.DEVELOPER)
    developer.get("/api/scorecard-rules/")  # the session and policy caches warm

    with django_assert_max_num_queries(8):
        listed = developer.get("/api/scorecard-rules/", {"scorecard": scorecard.pk}).json()["results"]

    assert [rule["days"] for rule in listed] == list(range(1, 9))
    assert {rule["scorecard_name"] for rule in listed} == {"Exam readiness"}
