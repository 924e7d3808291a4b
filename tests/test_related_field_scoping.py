"""An API write that names a related object outside the caller's scope answers exactly as one naming nothing.

Every writable endpoint whose body (or, for the DORA metrics, query) names a related object by id or
by name looks it up among what the caller may see (access/api/fields.py). Posting an id that does not
exist and posting the id of an object the caller may not see give the same status and the same body
(only the request id differs), with the refusal in words; an object in their scope is accepted.

The caller holds, with the viewer role switched off for everyone: everything on one team's objects,
the inventory of the EU zone, development templates, and unlimited cost administration (sources and
attribution rules belong to no team, so only an unlimited grant reaches them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from access.models import Role, Team, Tier, User
from costs.models import Budget
from environments.choices import EnvironmentStatus
from environments.models import Environment
from regions.choices import ResidencyZone
from regions.models import CloudAccount, Cluster
from tests.environments.factories import saved_template
from tests.factories import (
    ClusterFactory,
    GrantFactory,
    RegionFactory,
    RoleFactory,
    TeamFactory,
    make_service,
    make_user,
)

pytestmark = pytest.mark.django_db


@dataclass
class Scene:
    user: User
    ours: Team
    theirs: Team
    our_cluster: Cluster
    their_cluster: Cluster
    their_account: CloudAccount
    our_environment: Environment
    their_environment: Environment
    stranger: User


def environment(team: Team, cluster: Cluster, template: Any, requested_by: User, name: str) -> Environment:
    return Environment.objects.create(
        name=name,
        team=team,
        template=template,
        tier=template.tier,
        cluster=cluster,
        requested_by=requested_by,
        status=EnvironmentStatus.READY,
        monthly_estimate=Decimal("10.00"),
        currency="USD",
    )


@pytest.fixture
def scene() -> Scene:
    Role.objects.filter(everyone=True).update(everyone=False)
    user = make_user(username="scoped")
    ours, theirs = TeamFactory.create(slug="ours"), TeamFactory.create(slug="theirs")
    everything = Role.objects.get(slug="platform_admin")
    GrantFactory.create(user=user, role=everything, team=ours)
    GrantFactory.create(
        user=user, role=RoleFactory.create(permissions=["inventory.view", "inventory.add"]), zone=ResidencyZone.EU
    )
    GrantFactory.create(user=user, role=RoleFactory.create(permissions=["templates.view"]), tiers=[Tier.DEVELOPMENT])
    GrantFactory.create(user=user, role=RoleFactory.create(permissions=["costs.view", "costs.change"]))
    our_cluster = ClusterFactory.create(region=RegionFactory.create(code="eu-west-1"))
    their_region = RegionFactory.create(code="ap-southeast-2")
    their_cluster = ClusterFactory.create(region=their_region)
    development = saved_template(slug="development", name="Development", tier=Tier.DEVELOPMENT)
    saved_template(slug="staging", name="Staging", tier=Tier.STAGING)
    stranger = make_user(username="stranger")
    return Scene(
        user=user,
        ours=ours,
        theirs=theirs,
        our_cluster=our_cluster,
        their_cluster=their_cluster,
        their_account=their_region.account,
        our_environment=environment(ours, our_cluster, development, user, "ours-dev"),
        their_environment=environment(theirs, their_cluster, development, stranger, "theirs-dev"),
        stranger=stranger,
    )


@dataclass(frozen=True)
class Case:
    """One related field of one endpoint: the values to try, and the body around them."""

    method: str
    url: Callable[[Scene], str]
    field: str
    missing: Any
    out_of_scope: Callable[[Scene], Any]
    in_scope: Callable[[Scene], Any] | None = None
    body: Callable[[Scene], dict[str, Any]] = lambda scene: {}


def later(hours: int) -> str:
    return (timezone.now() + timedelta(hours=hours)).isoformat()


def token_body(scene: Scene) -> dict[str, Any]:
    return {"name": "deploy pipeline", "role": "developer", "expires_at": later(24)}


def freeze_body(scene: Scene) -> dict[str, Any]:
    return {"starts_at": later(1), "ends_at": later(2), "reason": "Release week."}


def service_body(scene: Scene) -> dict[str, Any]:
    return {"slug": "checkout", "name": "Checkout", "repository_url": "https://github.com/example/checkout"}


def environment_body(scene: Scene) -> dict[str, Any]:
    return {"name": "preview", "team": "ours", "template": "development", "cluster": scene.our_cluster.pk}


def region_request_body(scene: Scene) -> dict[str, Any]:
    return {"provider": "aws", "code": "eu-west-2", "residency_zone": "EU"}


def budget_body(scene: Scene) -> dict[str, Any]:
    return {"name": "Our budget", "team": "ours", "amount": "100.00"}


def rule_body(scene: Scene) -> dict[str, Any]:
    return {"kind": "tag", "key": "team", "value": "checkout", "priority": 10, "team": scene.ours.pk}


CASES: dict[str, Case] = {
    "token team": Case(
        "post", lambda s: "/api/tokens/", "team", "no-such-team", lambda s: s.theirs.slug, lambda s: s.ours.slug,
        token_body,
    ),
    "budget team": Case(
        "post", lambda s: "/api/budgets/", "team", "no-such-team", lambda s: s.theirs.slug, lambda s: s.ours.slug,
        budget_body,
    ),
    "budget environment": Case(
        "post", lambda s: "/api/budgets/", "environment", 10**9, lambda s: s.their_environment.pk,
        lambda s: s.our_environment.pk, budget_body,
    ),
    "budget service": Case(
        "post", lambda s: "/api/budgets/", "service", "no-such-service",
        lambda s: make_service(slug="their-service", team=s.theirs).slug,
        lambda s: make_service(slug="our-service", team=s.ours).slug, budget_body,
    ),
    "budget people to notify": Case(
        "post", lambda s: "/api/budgets/", "notify", ["nobody-here"], lambda s: [s.stranger.username], None,
        budget_body,
    ),
    "freeze environment": Case(
        "post", lambda s: "/api/freeze-windows/", "environment", 10**9, lambda s: s.their_environment.pk,
        lambda s: s.our_environment.pk, freeze_body,
    ),
    "service team": Case(
        "post", lambda s: "/api/services/", "team", "no-such-team", lambda s: s.theirs.slug, lambda s: s.ours.slug,
        service_body,
    ),
    "service team, changed": Case(
        "patch", lambda s: f"/api/services/{make_service(slug='ours-to-move', team=s.ours).pk}/", "team",
        "no-such-team", lambda s: s.theirs.slug, lambda s: s.ours.slug,
    ),
    "environment team": Case(
        "post", lambda s: "/api/environments/", "team", "no-such-team", lambda s: s.theirs.slug,
        lambda s: s.ours.slug, environment_body,
    ),
    "environment template": Case(
        "post", lambda s: "/api/environments/", "template", "no-such-template", lambda s: "staging",
        lambda s: "development", environment_body,
    ),
    "environment cluster": Case(
        "post", lambda s: "/api/environments/", "cluster", 10**9, lambda s: s.their_cluster.pk,
        lambda s: s.our_cluster.pk, environment_body,
    ),
    "environment check cluster": Case(
        "post", lambda s: "/api/environments/check/", "cluster", 10**9, lambda s: s.their_cluster.pk,
        lambda s: s.our_cluster.pk, environment_body,
    ),
    "environment check team": Case(
        "post", lambda s: "/api/environments/check/", "team", "no-such-team", lambda s: s.theirs.slug,
        lambda s: s.ours.slug, environment_body,
    ),
    "region request account": Case(
        "post", lambda s: "/api/region-requests/", "account", 10**9, lambda s: s.their_account.pk, None,
        region_request_body,
    ),
    "cost source account": Case(
        "post", lambda s: "/api/cost-sources/", "account", 10**9, lambda s: s.their_account.pk, None,
        lambda s: {"name": "Billing export", "kind": "aws_cur"},
    ),
    "cost source cluster": Case(
        "post", lambda s: "/api/cost-sources/", "cluster", 10**9, lambda s: s.their_cluster.pk,
        lambda s: s.our_cluster.pk, lambda s: {"name": "Cluster costs", "kind": "kubernetes"},
    ),
    "attribution rule team": Case(
        "post", lambda s: "/api/attribution-rules/", "team", 10**9, lambda s: s.theirs.pk, lambda s: s.ours.pk,
        rule_body,
    ),
    "attribution rule environment": Case(
        "post", lambda s: "/api/attribution-rules/", "environment", 10**9, lambda s: s.their_environment.pk,
        lambda s: s.our_environment.pk, rule_body,
    ),
    "attribution rule service": Case(
        "post", lambda s: "/api/attribution-rules/", "service", 10**9,
        lambda s: make_service(slug="their-rule-service", team=s.theirs).pk,
        lambda s: make_service(slug="our-rule-service", team=s.ours).pk, rule_body,
    ),
    "budget team, changed": Case(
        "patch", lambda s: f"/api/budgets/{Budget.objects.create(name='Ours', team=s.ours, amount=1).pk}/", "team",
        "no-such-team", lambda s: s.theirs.slug, lambda s: s.ours.slug,
    ),
    "DORA team": Case(
        "get", lambda s: "/api/dora/", "team", "no-such-team", lambda s: s.theirs.slug, lambda s: s.ours.slug
    ),
    "DORA service": Case(
        "get", lambda s: "/api/dora/", "service", "no-such-service",
        lambda s: make_service(slug="their-dora-service", team=s.theirs).slug,
        lambda s: make_service(slug="our-dora-service", team=s.ours).slug,
    ),
}  # fmt: skip


def send(client: Client, case: Case, scene: Scene, url: str, value: Any) -> tuple[int, dict[str, Any]]:
    """The answer's status and body, without the request id (which differs on every call)."""
    if case.method == "get":
        response = client.get(url, {case.field: value})
    else:
        body = {**case.body(scene), case.field: value}
        response = getattr(client, case.method)(url, body, content_type="application/json")
    answer = response.json()
    answer.pop("request_id", None)
    return response.status_code, answer


@pytest.mark.parametrize("name", list(CASES))
def test_an_object_outside_the_callers_scope_answers_as_one_that_does_not_exist(name: str, scene: Scene) -> None:
    case = CASES[name]
    client = Client()
    client.force_login(scene.user)
    url = case.url(scene)
    missing = send(client, case, scene, url, case.missing)
    outside = send(client, case, scene, url, case.out_of_scope(scene))
    assert outside == missing
    status, body = missing
    assert status == 400, body
    message = str(body["error"]["fields"][case.field])
    assert "There is no" in message, message
    if case.in_scope is not None:
        status, body = send(client, case, scene, url, case.in_scope(scene))
        assert case.field not in body.get("error", {}).get("fields", {}), body


def offered(html: str, name: str) -> set[str]:
    """The values a page's ``<select name=…>`` offers (the empty choice left out)."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select is not None, f"no {name} choice on the page"
    return set(re.findall(r'<option value="([^"]+)"', select.group(1)))


def test_the_budget_form_offers_only_the_environments_and_services_the_person_may_see(scene: Scene) -> None:
    """They may set budgets for every team, but see only their own team's environments and services."""
    ours, theirs = (
        make_service(slug="our-service", team=scene.ours),
        make_service(slug="their-service", team=scene.theirs),
    )
    client = Client()
    client.force_login(scene.user)
    response = client.get("/costs/budgets/new/")
    assert response.status_code == 200
    html = response.content.decode()
    assert offered(html, "team") == {str(scene.ours.pk), str(scene.theirs.pk)}
    assert offered(html, "environment") == {str(scene.our_environment.pk)}
    assert offered(html, "service") == {str(ours.pk)}
    assert theirs.name not in html
    assert scene.their_environment.name not in html
