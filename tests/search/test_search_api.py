"""``GET /api/search/``: the page's groups as JSON, through the same policy, with the API's error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from access.models import ApiToken, Membership, Team, User
from portal.demo import Persona
from tests.factories import ApiTokenFactory, api_token_secret
from tests.helpers import queries_for
from tests.search.test_search_page import make_environment

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
API = reverse("api-search")
KINDS = ["services", "environments", "deployments", "clusters", "regions", "teams", "people"]


def search(client: Client, text: str, **headers: str) -> dict[str, Any]:
    response = client.get(API, {"q": text}, headers=headers)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def group(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(found for found in body["groups"] if found["kind"] == kind)


def titles(body: dict[str, Any], kind: str) -> list[str]:
    return [hit["title"] for hit in group(body, kind)["results"]]


def test_the_answer_has_every_kind_in_order_with_its_count_results_and_list_link(client_for: ClientFor) -> None:
    make_environment("api-shape")

    body = search(client_for(Persona.DEVELOPER), "  api-shape ")

    assert body["query"] == "api-shape"
    assert body["hint"] == ""
    assert [found["kind"] for found in body["groups"]] == KINDS
    environments = group(body, "environments")
    assert set(environments) == {"kind", "label", "count", "more_url", "results"}
    assert environments["label"] == "Environments"
    assert environments["count"] == 1
    assert environments["more_url"] == f"{reverse('environments:list')}?q=api-shape"
    (hit,) = environments["results"]
    assert set(hit) == {"title", "url", "detail", "when"}
    assert hit["title"] == "api-shape"
    assert hit["url"].startswith("/environments/")
    assert hit["detail"] == "Student Experience · eks-eu-west-1 · Ready"
    assert hit["when"] is None
    assert group(body, "clusters") == {
        "kind": "clusters",
        "label": "Clusters",
        "count": 0,
        "more_url": "",
        "results": [],
    }


def test_a_deployment_carries_when_it_started(client_for: ClientFor) -> None:
    body = search(client_for(Persona.DEVELOPER), "4.6")

    hits = group(body, "deployments")["results"]
    assert hits
    assert all(hit["when"] and hit["when"][:4].isdigit() for hit in hits)


def test_the_api_goes_through_the_same_policy_as_the_page(client_for: ClientFor) -> None:
    make_environment("policy-ours")
    make_environment("policy-theirs", team="tutor-tools", cluster="eks-ap-southeast-2")

    assert titles(search(client_for(Persona.DEVELOPER), "policy-"), "environments") == ["policy-ours"]
    assert sorted(titles(search(client_for(Persona.PLATFORM_ADMIN), "policy-"), "environments")) == [
        "policy-ours",
        "policy-theirs",
    ]
    assert titles(search(client_for(Persona.AUDITOR), "policy-"), "environments") == []


def test_an_api_token_limits_the_search_to_its_team(client_for: ClientFor) -> None:
    make_environment("token-ours")
    make_environment("token-theirs", team="tutor-tools", cluster="eks-ap-southeast-2")
    # An admin's token with the developer role on Student Experience: only that team's objects.
    admin, team = User.objects.get(username="admin"), Team.objects.get(slug="student-experience")
    token: ApiToken = ApiTokenFactory.create(owner=admin, team=team)
    person = User.objects.create(username="token-person", first_name="Tok", last_name="En")
    Membership.objects.create(team=Team.objects.get(slug="student-experience"), user=person)
    Membership.objects.create(team=Team.objects.get(slug="tutor-tools"), user=person)
    bearer = {"authorization": f"Bearer {api_token_secret(token)}"}

    assert titles(search(Client(), "token-", **bearer), "environments") == ["token-ours"]
    # People are everyone's directory, but the teams named with them are the token's only.
    (hit,) = group(search(Client(), "token-person", **bearer), "people")["results"]
    assert hit["detail"] == "token-person · Student Experience"
    (hit,) = group(search(client_for(Persona.PLATFORM_ADMIN), "token-person"), "people")["results"]
    assert hit["detail"] == "token-person · Student Experience, Tutor Tools"


def test_a_short_search_answers_a_hint_and_no_groups(client_for: ClientFor) -> None:
    for text in ["", "x", "   "]:
        body = search(client_for(Persona.DEVELOPER), text)

        assert body["groups"] == []
        assert body["hint"] == "Type at least 2 characters to search."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s" * 101, "A search is at most 100 characters; this one has 101. Shorten it and search again."),
        # Refused for every API address before the search reads it (portal/middleware.py).
        ("a\x00b", "Text cannot contain control characters such as a null byte: remove them and try again."),
    ],
)
def test_refused_text_is_a_structured_400(client_for: ClientFor, text: str, message: str) -> None:
    response = client_for(Persona.DEVELOPER).get(API, {"q": text})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400
    assert error["code"] == "invalid"
    assert error["fields"] == {"q": [message]}
    assert response.json()["request_id"]


def test_anonymous_callers_are_asked_to_authenticate(client_for: ClientFor) -> None:
    response = client_for(None).get(API, {"q": "stud"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_the_api_runs_the_same_queries_however_many_rows_match(client_for: ClientFor) -> None:
    admin = client_for(Persona.PLATFORM_ADMIN)
    make_environment("count-0")
    queries_for(admin, API, {"q": "count-"})
    few = queries_for(admin, API, {"q": "count-"})
    for number in range(1, 15):
        make_environment(f"count-{number}")

    assert queries_for(admin, API, {"q": "count-"}) == few
    assert group(search(admin, "count-"), "environments")["count"] == 15


def test_the_schema_documents_the_search_endpoint(client_for: ClientFor) -> None:
    schema = client_for(Persona.DEVELOPER).get(reverse("api-schema"), {"format": "json"}).json()

    operation = schema["paths"]["/api/search/"]["get"]
    assert [parameter["name"] for parameter in operation["parameters"]] == ["q"]
    assert "200" in operation["responses"]
