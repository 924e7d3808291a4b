"""The scorecard pages and API on the demo: platform admins define rules through a form that checks thresholds
in words (and each change is audited and re-evaluated); everyone else reads them; a service's card, its column in
the catalogue and its API are seen by whoever may see the service."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from access.audit.services import SCORECARD_RULE_CHANGED
from access.models import AuditEvent, User
from deployments.models import Service
from portal.demo import Persona
from scorecards import services
from scorecards.models import RuleResult, Scorecard, ScorecardRule, ServiceScore
from tests.factories import make_service
from tests.helpers import queries_for

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
NOT_ADMINS = [Persona.DEVELOPER, Persona.TEAM_LEAD, Persona.MANAGER, Persona.AUDITOR]


@pytest.fixture
def readiness(demo: None) -> Scorecard:
    return Scorecard.objects.get(name="Production readiness")


@pytest.fixture
def evaluated(readiness: Scorecard, settings: Any, tmp_path: Path) -> Scorecard:
    """The demo evaluated as the schedule would, against a sandbox cloud of the test's own."""
    settings.DATA_DIR = tmp_path
    services.scorecards_evaluate()
    return readiness


def api_queries(client: APIClient, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured.captured_queries)


def rule_of(scorecard: Scorecard, kind: str) -> ScorecardRule:
    return scorecard.rules.get(kind=kind)


def api_as(persona: Callable[[Persona], User], who: Persona) -> APIClient:
    client = APIClient()
    client.force_authenticate(persona(who))
    return client


# --- the rule form -------------------------------------------------------------------------------------------

DAYS = "Give a whole number of days from 1 to 365, e.g. 14."
PERCENT = "Give a percentage above 0 and at most 100, e.g. 15 or 12.5."


@pytest.mark.parametrize(
    ("posted", "field", "message"),
    [
        ({"kind": "deployed_within", "level": "gold", "days": "0"}, "days", DAYS),
        ({"kind": "deployed_within", "level": "gold", "days": "366"}, "days", DAYS),
        ({"kind": "deployed_within", "level": "gold", "days": "two weeks"}, "days", DAYS),
        ({"kind": "deployed_within", "level": "gold"}, "days", DAYS),
        ({"kind": "change_failure_rate", "level": "gold", "percent": "0"}, "percent", PERCENT),
        ({"kind": "change_failure_rate", "level": "gold", "percent": "100.5"}, "percent", PERCENT),
        ({"kind": "change_failure_rate", "level": "gold", "percent": "-5"}, "percent", PERCENT),
        ({"kind": "change_failure_rate", "level": "gold", "percent": "lots"}, "percent", PERCENT),
        (
            {"kind": "change_failure_rate", "level": "gold", "percent": "12.55"},
            "percent",
            "Give the percentage with at most one decimal place, e.g. 12.5.",
        ),
        ({"kind": "", "level": "gold"}, "kind", "Choose what the rule checks."),
        ({"kind": "owner", "level": "platinum"}, "level", "Choose the level the rule belongs to."),
    ],
)
def test_the_rule_form_refuses_a_bad_threshold_in_words_and_keeps_what_was_typed(
    posted: dict[str, str], field: str, message: str, client_for: ClientFor, readiness: Scorecard
) -> None:
    before = readiness.rules.count()

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("scorecards:rule_create", kwargs={"pk": readiness.pk}), {**posted, "description": "Kept as typed."}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert "Kept as typed." in html
    assert response.context["form"].errors[field] == [message]
    assert readiness.rules.count() == before


def test_a_valid_rule_is_saved_with_its_threshold_in_its_title(client_for: ClientFor, readiness: Scorecard) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("scorecards:rule_create", kwargs={"pk": readiness.pk}),
        {"kind": "change_failure_rate", "level": "gold", "percent": "12.5", "days": "999"},
    )

    assert response.status_code == 302
    rule = readiness.rules.get(level="gold", kind="change_failure_rate")
    assert (rule.percent, rule.days) == (Decimal("12.5"), None)  # a threshold the kind does not take is dropped
    page = client_for(Persona.DEVELOPER).get(reverse("scorecards:detail", kwargs={"pk": readiness.pk}))
    assert "Change failure rate under 12.5 % (last 30 days)" in page.content.decode()


def test_the_same_rule_twice_at_one_level_is_refused(client_for: ClientFor, readiness: Scorecard) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("scorecards:rule_create", kwargs={"pk": readiness.pk}),
        {"kind": "deployed_within", "level": "silver", "days": "14"},
    )

    assert response.status_code == 200
    assert "already has the rule “Deployed to production within 14 days” at silver" in response.content.decode()


def test_a_scorecard_name_is_unique_whatever_its_case(client_for: ClientFor, readiness: Scorecard) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("scorecards:create"), {"name": "production READINESS"})

    assert response.status_code == 200
    assert "There is already a scorecard named production READINESS" in response.content.decode()
    assert Scorecard.objects.count() == 1


# --- only platform admins manage rules ------------------------------------------------------------------------


@pytest.mark.parametrize("who", NOT_ADMINS)
def test_only_platform_admins_manage_scorecards_and_rules(
    who: Persona, client_for: ClientFor, persona: Callable[[Persona], User], readiness: Scorecard
) -> None:
    client = client_for(who)
    rule = rule_of(readiness, "deployed_within")
    posts = [
        (reverse("scorecards:create"), {"name": "Mine"}),
        (reverse("scorecards:rule_create", kwargs={"pk": readiness.pk}), {"kind": "owner", "level": "gold"}),
        (
            reverse("scorecards:rule_edit", kwargs={"pk": rule.pk}),
            {"kind": "deployed_within", "level": "bronze", "days": "365"},
        ),
        (reverse("scorecards:rule_delete", kwargs={"pk": rule.pk}), {}),
        (reverse("scorecards:edit", kwargs={"pk": readiness.pk}), {"name": "Renamed"}),
        (reverse("scorecards:delete", kwargs={"pk": readiness.pk}), {}),
        (reverse("scorecards:evaluate", kwargs={"pk": readiness.pk}), {}),
    ]
    before = list(ScorecardRule.objects.order_by("pk").values_list("pk", "level", "days"))

    for url, data in posts:
        assert client.post(url, data).status_code == 403, url

    assert list(ScorecardRule.objects.order_by("pk").values_list("pk", "level", "days")) == before
    assert list(Scorecard.objects.values_list("name", flat=True)) == ["Production readiness"]
    with pytest.raises((PermissionDenied, Http404)):
        services.rule_create(actor=persona(who), scorecard=readiness, kind="owner", level="gold")
    listing = client.get(reverse("scorecards:list")).content.decode()
    assert "Deployed to production within 14 days" in listing  # everyone reads what is expected
    assert "Add a rule" not in listing
    assert reverse("scorecards:rule_edit", kwargs={"pk": rule.pk}) not in listing


def test_saving_a_rule_is_audited_with_its_old_and_new_threshold_and_asks_for_an_evaluation(
    client_for: ClientFor,
    persona: Callable[[Persona], User],
    evaluated: Scorecard,
    django_capture_on_commit_callbacks: Any,
) -> None:
    rule = rule_of(evaluated, "deployed_within")
    assert RuleResult.objects.filter(rule=rule).exists()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(Persona.PLATFORM_ADMIN).post(
            reverse("scorecards:rule_edit", kwargs={"pk": rule.pk}),
            {"kind": "deployed_within", "level": "gold", "days": "7"},
        )

    assert response.status_code == 302
    event = AuditEvent.objects.filter(verb=SCORECARD_RULE_CHANGED).latest("pk")
    assert event.before is not None
    assert event.after is not None
    assert event.actor == persona(Persona.PLATFORM_ADMIN)
    assert (event.before["days"], event.before["level"]) == (14, "silver")
    assert (event.after["days"], event.after["level"], event.after["title"]) == (
        7,
        "gold",
        "Deployed to production within 7 days",
    )
    assert not RuleResult.objects.filter(rule=rule).exists()  # judged against 14 days: gone until judged again
    assert len(callbacks) == 1  # the evaluation, enqueued once the change is committed


# --- a service's card and the catalogue's column ------------------------------------------------------------


def test_a_developer_sees_their_services_card_with_each_rule_its_result_and_why(
    client_for: ClientFor, evaluated: Scorecard
) -> None:
    html = client_for(Persona.DEVELOPER).get(reverse("deployments:service", args=["student-portal"])).content.decode()

    card = html[html.index('id="scorecards"') :]
    assert "Production readiness" in card
    assert 'data-card-level><span class="badge level-badge level-silver" data-level="silver"' in card
    assert "★★</span> Silver" in card
    assert "6 of 8 rules passed" in card
    assert "Owned by Student Experience (2 members)." in card
    assert "Last deployed to production 2 days ago (rule: within 14 days)." in card
    assert "eks-eu-west-1 runs Kubernetes 1.31, which AWS no longer supports in eu-west-1" in card
    assert card.count('data-rule-status="passed"') == 6
    assert card.count('data-rule-status="failed"') == 2
    assert "✗</span> Failed" in card  # the result in words and a mark, not colour only
    assert "To reach Gold: Runs on supported Kubernetes versions only" in card
    assert card.count("data-day=") == 1  # today's history row
    assert 'data-chart="line"' in card


def test_a_service_of_another_team_and_its_results_stay_hidden(
    client_for: ClientFor, persona: Callable[[Persona], User], evaluated: Scorecard
) -> None:
    tutor = Service.objects.get(slug="tutor-dashboard")

    page = client_for(Persona.DEVELOPER).get(reverse("deployments:service", args=[tutor.slug]))
    api = api_as(persona, Persona.DEVELOPER).get(f"/api/services/{tutor.pk}/scorecards/")
    scores = api_as(persona, Persona.DEVELOPER).get("/api/scorecard-scores/", {"page_size": 100}).json()

    assert page.status_code == 404
    assert api.status_code == 404
    assert {row["team"] for row in scores["results"]} == {"student-experience"}


def test_the_catalogue_shows_each_services_level_in_words(client_for: ClientFor, evaluated: Scorecard) -> None:
    html = client_for(Persona.DEVELOPER).get(reverse("deployments:services")).content.decode()

    assert f'<th scope="col" data-scorecard-column="{evaluated.pk}">Production readiness</th>' in html
    row = html[html.index('data-service="student-portal"') :]
    row = row[: row.index("</tr>")]
    assert "★★</span> Silver" in row
    assert "6/8" in row
    enrolment = html[html.index('data-service="enrolment"') :]
    assert "★</span> Bronze" in enrolment[: enrolment.index("</tr>")]


def test_a_service_not_evaluated_yet_says_so(client_for: ClientFor, readiness: Scorecard) -> None:
    html = client_for(Persona.DEVELOPER).get(reverse("deployments:services")).content.decode()

    assert "Not evaluated yet" in html


def test_the_catalogue_reads_the_levels_in_a_fixed_number_of_queries(
    client_for: ClientFor, evaluated: Scorecard
) -> None:
    client = client_for(Persona.DEVELOPER)
    url = reverse("deployments:services")
    few = queries_for(client, url)
    team = Service.objects.get(slug="student-portal").team
    for number in range(10):
        made = make_service(slug=f"extra-{number}", team=team)
        ServiceScore.objects.create(
            service=made, scorecard=evaluated, level="bronze", passed=3, total=8, evaluated_at=evaluated.created_at
        )

    many = queries_for(client, url)

    assert many == few


def test_the_scorecard_page_and_the_api_list_levels_in_a_fixed_number_of_queries(
    client_for: ClientFor, persona: Callable[[Persona], User], evaluated: Scorecard
) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    api = api_as(persona, Persona.PLATFORM_ADMIN)
    page_url = reverse("scorecards:detail", kwargs={"pk": evaluated.pk})
    api.get("/api/scorecard-scores/")  # the API client's user keeps its grants once read, as a request does
    few = (
        queries_for(client, page_url),
        api_queries(api, "/api/scorecard-scores/"),
        queries_for(client, "/scorecards/"),
    )
    team = Service.objects.get(slug="student-portal").team
    for number in range(10):
        made = make_service(slug=f"extra-{number}", team=team)
        ServiceScore.objects.create(
            service=made, scorecard=evaluated, level="gold", passed=8, total=8, evaluated_at=evaluated.created_at
        )

    many = (
        queries_for(client, page_url),
        api_queries(api, "/api/scorecard-scores/"),
        queries_for(client, "/scorecards/"),
    )

    assert many == few
    assert "Extra 9" in client.get(page_url).content.decode()


def test_everyone_finds_the_scorecards_in_the_navigation(client_for: ClientFor, readiness: Scorecard) -> None:
    for who in Persona:
        sections = [item.label for item in client_for(who).get(reverse("home")).context["navigation"]]
        assert "Scorecards" in sections, who


def test_the_scorecard_page_lists_the_services_one_may_see_best_first(
    client_for: ClientFor, evaluated: Scorecard
) -> None:
    url = reverse("scorecards:detail", kwargs={"pk": evaluated.pk})

    html = client_for(Persona.DEVELOPER).get(url).content.decode()
    silver_only = client_for(Persona.DEVELOPER).get(url, {"level": "silver"}).content.decode()

    standings = html[html.index("data-standings") :]
    assert standings.index('data-service="student-portal"') < standings.index('data-service="enrolment"')
    assert 'data-service="tutor-dashboard"' not in standings
    assert 'data-service="student-portal"' in silver_only
    assert 'data-service="enrolment"' not in silver_only[silver_only.index("data-standings") :]


# --- the API -------------------------------------------------------------------------------------------------


def test_the_api_gives_a_services_card_rule_by_rule(persona: Callable[[Persona], User], evaluated: Scorecard) -> None:
    portal = Service.objects.get(slug="student-portal")

    cards = api_as(persona, Persona.DEVELOPER).get(f"/api/services/{portal.pk}/scorecards/").json()

    (card,) = cards
    assert (card["name"], card["level"], card["level_label"], card["passed"], card["total"]) == (
        "Production readiness",
        "silver",
        "Silver",
        6,
        8,
    )
    reasons = {rule["title"]: (rule["status"], rule["reason"]) for rule in card["rules"]}
    assert reasons["Has a runbook link"] == ("passed", "Runbook: https://wiki.example.com/runbooks/student-portal")
    assert reasons["Its team is within budget"][0] == "failed"
    assert [point["level"] for point in card["history"]] == ["silver"]


def test_the_api_lists_levels_filtered_and_refuses_a_level_that_does_not_exist(
    persona: Callable[[Persona], User], evaluated: Scorecard
) -> None:
    client = api_as(persona, Persona.PLATFORM_ADMIN)

    bronze = client.get("/api/scorecard-scores/", {"scorecard": str(evaluated.pk), "level": "bronze"}).json()
    wrong = client.get("/api/scorecard-scores/", {"level": "platinum"})
    scorecards = client.get("/api/scorecards/").json()

    assert {row["service"] for row in bronze["results"]} >= {"enrolment"}
    assert {row["level"] for row in bronze["results"]} == {"bronze"}
    assert wrong.status_code == 400
    assert wrong.json()["error"]["fields"]["level"] == ["Give bronze, silver, gold or none."]
    titles = [rule["title"] for rule in scorecards["results"][0]["rules"]]
    assert "Change failure rate under 20 % (last 30 days)" in titles


def test_the_auditor_who_sees_no_service_sees_no_scorecard_result(
    persona: Callable[[Persona], User], evaluated: Scorecard
) -> None:
    portal = Service.objects.get(slug="student-portal")
    client = api_as(persona, Persona.AUDITOR)

    assert client.get(f"/api/services/{portal.pk}/scorecards/").status_code == 404
    assert client.get("/api/scorecard-scores/").json()["count"] == 0
    assert client.get("/api/scorecards/").json()["count"] == 1  # what is expected of services is public
