"""Cost writes refuse before they read: the answer never depends on the body, so it tells nothing about the data.

A budget that does not exist and one outside the caller's scope are both a 404, whoever asks and
whatever they send; one the caller sees but may not change is a 403. Cost sources and attribution
rules ask for ``costs.change`` before validating a body. Pages and API alike.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from access.models import AuditEvent, Team, User
from access.permissions import BuiltinRole
from costs.budgets import services as budgets
from costs.choices import SourceKind
from costs.models import AttributionRule, Budget, CostSource
from environments.choices import EnvironmentStatus
from environments.models import Environment
from tests.costs.budget_helpers import api, make_team, person, signed_in
from tests.environments.factories import saved_template
from tests.factories import ClusterFactory, GrantFactory, RoleFactory, make_user

pytestmark = pytest.mark.django_db

MISSING = 999_999_999
# Bodies that would each draw a different validation message, were they validated.
BODIES: list[dict[str, Any]] = [
    {},
    {"name": "", "amount": "-1", "currency": "nope", "team": "no-such-team", "environment": MISSING},
    {"name": "Renamed", "amount": "10.00"},
]


@pytest.fixture
def checkout() -> Team:
    return make_team("checkout")


@pytest.fixture
def search() -> Team:
    return make_team("search")


@pytest.fixture
def manager() -> User:
    return person("marco", role=BuiltinRole.MANAGER)


@pytest.fixture
def people(checkout: Team) -> dict[str, User]:
    """Who asks: a developer of checkout, checkout's own cost manager, the auditor, the manager of everything."""
    return {
        "developer": person("dev", team=checkout),
        "checkout_finance": person("fin", team=checkout, role=BuiltinRole.MANAGER),
        "auditor": person("aud", role=BuiltinRole.AUDITOR),
    }


def budget_of(team: Team, manager: User) -> Budget:
    return budgets.budget_create(actor=manager, name=f"{team.slug} monthly", team=team, amount=Decimal(1000))


def write_budget(user: User, how: str, pk: int, body: dict[str, Any]) -> Any:
    if how.startswith("page"):
        action = how.removeprefix("page ")
        return signed_in(user).post(f"/costs/budgets/{pk}/{action}/", body)
    method = how.removeprefix("api ")
    return getattr(api(user), method)(f"/api/budgets/{pk}/", body, format="json")


WRITES = ["api put", "api patch", "api delete", "page edit", "page delete"]


@pytest.mark.parametrize("how", WRITES)
@pytest.mark.parametrize("who", ["developer", "checkout_finance", "auditor", "manager"])
def test_a_budget_write_to_an_id_that_does_not_exist_is_a_404_for_everyone_whatever_the_body(
    people: dict[str, User], manager: User, how: str, who: str
) -> None:
    user = manager if who == "manager" else people[who]

    statuses = {write_budget(user, how, MISSING, body).status_code for body in BODIES}

    assert statuses == {404}


@pytest.mark.parametrize("how", WRITES)
def test_another_teams_budget_is_a_404_to_write_and_ones_own_teams_a_403_and_neither_changes(
    people: dict[str, User], checkout: Team, search: Team, manager: User, how: str
) -> None:
    theirs, ours = budget_of(search, manager), budget_of(checkout, manager)
    events = AuditEvent.objects.count()

    unseen = {write_budget(user, how, theirs.pk, body).status_code for user in people.values() for body in BODIES}
    seen = {write_budget(people["developer"], how, ours.pk, body).status_code for body in BODIES}

    assert unseen == {404}
    assert seen == {403}
    assert list(Budget.objects.order_by("pk").values_list("name", "amount")) == [
        ("search monthly", Decimal("1000.00")),
        ("checkout monthly", Decimal("1000.00")),
    ]
    assert AuditEvent.objects.count() == events


def an_environment_of(team: Team) -> Environment:
    return Environment.objects.create(
        team=team,
        name="production",
        template=saved_template(slug=f"template-{team.slug}", name=f"Template {team.slug}"),
        tier="production",
        cluster=ClusterFactory.create(),
        requested_by=make_user(),
        status=EnvironmentStatus.READY,
        monthly_estimate="10.00",
        currency="USD",
    )


def test_a_budget_on_an_environment_one_may_not_see_is_refused_as_if_it_did_not_exist(
    people: dict[str, User], search: Team
) -> None:
    hidden = an_environment_of(search)
    body = {"name": "Theirs", "team": "checkout", "amount": "10.00"}

    on_hidden = api(people["checkout_finance"]).post("/api/budgets/", {**body, "environment": hidden.pk}, format="json")
    on_missing = api(people["checkout_finance"]).post("/api/budgets/", {**body, "environment": MISSING}, format="json")

    assert (on_hidden.status_code, on_missing.status_code) == (400, 400)
    hidden_message = on_hidden.json()["error"]["fields"]["environment"]
    assert hidden_message == [
        message.replace(str(MISSING), str(hidden.pk)) for message in on_missing.json()["error"]["fields"]["environment"]
    ]
    assert "search" not in on_hidden.content.decode().lower()
    assert not Budget.objects.exists()


# --- cost sources and attribution rules ------------------------------------------------------------


@pytest.fixture
def source() -> CostSource:
    return CostSource.objects.create(name="aws-focus", kind=SourceKind.UPLOAD)


@pytest.fixture
def rule(checkout: Team) -> AttributionRule:
    return AttributionRule.objects.create(kind="tag", key="cost-center", value="cc-42", team=checkout)


@pytest.fixture
def cost_viewer() -> User:
    """Sees every source and rule (costs.view without a team limit) but may change none."""
    viewer = make_user(username="viewer")
    GrantFactory.create(role=RoleFactory.create(slug="cost-viewer", permissions=["costs.view"]), user=viewer)
    return viewer


SOURCE_BODIES: list[dict[str, Any]] = [
    {},
    {"name": "aws-focus", "kind": "no-such-kind", "account": MISSING, "cluster": MISSING},
    {"kind": "tag", "key": "", "value": "", "team": MISSING, "priority": -1},
]


def said_nothing_about_the_data(response: Any) -> bool:
    text = response.content.decode().lower()
    return not any(word in text for word in ("already exists", "valid choice", "does not exist", "aws-focus"))


@pytest.mark.parametrize("who", ["developer", "checkout_finance", "auditor"])
def test_who_may_not_change_cost_sources_gets_the_same_refusal_for_any_body(
    people: dict[str, User], source: CostSource, rule: AttributionRule, who: str
) -> None:
    client = api(people[who])

    answers = [
        *(client.post("/api/cost-sources/", body, format="json") for body in SOURCE_BODIES),
        *(client.post("/api/attribution-rules/", body, format="json") for body in SOURCE_BODIES),
    ]
    hidden = [
        *(client.patch(f"/api/cost-sources/{source.pk}/", body, format="json") for body in SOURCE_BODIES),
        client.delete(f"/api/attribution-rules/{rule.pk}/"),
        client.post(f"/api/cost-sources/{source.pk}/import/"),
    ]

    assert {answer.status_code for answer in answers} == {403}
    assert {answer.status_code for answer in hidden} == {404}
    assert all(said_nothing_about_the_data(answer) for answer in [*answers, *hidden])
    assert list(CostSource.objects.values_list("name", "kind")) == [("aws-focus", SourceKind.UPLOAD)]
    assert AttributionRule.objects.count() == 1


def test_who_sees_cost_sources_but_may_not_change_them_gets_403_before_the_body_is_read(
    cost_viewer: User, source: CostSource, rule: AttributionRule
) -> None:
    client, page = api(cost_viewer), signed_in(cost_viewer)

    answers = [
        *(client.patch(f"/api/cost-sources/{source.pk}/", body, format="json") for body in SOURCE_BODIES),
        *(client.post("/api/cost-sources/", body, format="json") for body in SOURCE_BODIES),
        *(client.post("/api/attribution-rules/", body, format="json") for body in SOURCE_BODIES),
        client.delete(f"/api/attribution-rules/{rule.pk}/"),
        client.post(f"/api/cost-sources/{source.pk}/import/"),
        *(page.post(f"/costs/sources/{source.pk}/edit/", body) for body in SOURCE_BODIES),
        *(page.post("/costs/sources/new/", body) for body in SOURCE_BODIES),
        *(page.post("/costs/sources/rules/", body) for body in SOURCE_BODIES),
        page.post(f"/costs/sources/rules/{rule.pk}/delete/"),
        page.post(f"/costs/sources/{source.pk}/import/"),
    ]

    assert [answer.status_code for answer in answers] == [403] * len(answers)
    assert all(said_nothing_about_the_data(answer) for answer in answers)
    assert list(CostSource.objects.values_list("name", "kind")) == [("aws-focus", SourceKind.UPLOAD)]
    assert AttributionRule.objects.count() == 1
    assert client.get(f"/api/cost-sources/{source.pk}/").status_code == 200  # they do see it


def test_who_may_change_cost_sources_is_told_what_is_wrong_with_the_body(manager: User, source: CostSource) -> None:
    response = api(manager).post("/api/cost-sources/", {"name": "aws-focus", "kind": "no-such-kind"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name", "kind"}
