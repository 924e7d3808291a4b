"""Every list shows a person exactly the objects the policy lets them see, no more and no fewer.

For worlds that hypothesis generates (teams, regions in residency zones, clusters, people with random
memberships and grants limited by team, region, zone and tiers, given to them or to a team they are
in), each list endpoint (every page, at the largest page size) and each list page must hold exactly
``{obj for obj in everything if policy.can(user, VIEW, obj)}``, computed object by object. The
ordinary viewer role is held by everyone in some worlds and by nobody in others, so inventory lists
are exercised both ways; some grants have expired or been revoked, and some people have an API token
(a role on one team), through which the API lists must hold what the policy allows through it. Where
a list is about another action, the set is computed with that action: cost exports with ``export``,
the approvals waiting for someone with ``approve`` on each request's subject.

Each example runs in its own savepoint inside the test's transaction and is rolled back, so examples
never see each other's data; Redis (where report results are cached) is emptied per example too.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from access import policy
from access.models import ApiToken, AuditEvent, Grant, Membership, Role, Team, Tier, User
from approvals.models import ApprovalRequest, ApprovalStatus
from costs.models import Budget, CostRollup, Recommendation
from deployments.models import Deployment, Service
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from regions.choices import ClusterKind, Provider, RegionStatus, ResidencyZone
from regions.models import CloudAccount, Cluster, FailoverRequest, Namespace, Region, RegionRequest
from tests.environments.factories import template
from tests.factories import ApiTokenFactory, api_token_secret, audit_events

pytestmark = pytest.mark.django_db

TIERS = list(Tier.values)
ZONES = list(ResidencyZone.values)
# (code, zone): two EU regions, so a grant limited to a region differs from one limited to its zone.
REGIONS = [("eu-west-1", "EU"), ("eu-central-1", "EU"), ("ap-southeast-2", "AU"), ("us-east-1", "US")]
TEAMS = 3
USERS = 3
# Custom roles next to the built-in ones, so a role that holds one domain only, or a wildcard, is covered too.
CUSTOM_ROLES = {
    "inventory-reader": ["inventory.view"],
    "cost-reader": ["costs.view"],
    "deployments-all": ["deployments.*"],
    "approver": ["environments.view", "environments.approve", "inventory.approve"],
}
ROLES = ["developer", "team_lead", "manager", "auditor", "platform_admin", *CUSTOM_ROLES]

PROPERTY_SETTINGS = settings(
    max_examples=10,
    # Failures name the person and the ids shown too many or missing; shrinking would take minutes on two cores.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=True,
    deadline=None,
    # The test's own transaction (pytest-django's db) is set up once; each example rolls back its savepoint.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


# --- the generated world ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantSpec:
    role: str
    grantee_team: int | None  # None: the grant goes to the person; else to every member of that team
    team: int | None
    region: int | None
    zone: str
    tiers: tuple[str, ...]
    state: str  # active, expired or revoked: only active grants count


@dataclass(frozen=True)
class TokenSpec:
    """An API token of the person's: a role on one team, which narrows what the person may do through it."""

    role: str
    team: int


@dataclass(frozen=True)
class PersonSpec:
    teams: frozenset[int]
    grants: tuple[GrantSpec, ...]
    token: TokenSpec | None


@dataclass(frozen=True)
class WorldSpec:
    viewer_for_everyone: bool
    team_zones: tuple[str, ...]
    people: tuple[PersonSpec, ...]


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


grant_specs = st.builds(
    GrantSpec,
    role=st.sampled_from(ROLES),
    grantee_team=st.one_of(st.none(), st.none(), st.integers(0, TEAMS - 1)),
    team=maybe(st.integers(0, TEAMS - 1)),
    region=st.one_of(st.none(), st.none(), st.integers(0, len(REGIONS) - 1)),
    zone=st.sampled_from(["", "", *ZONES]),
    tiers=st.one_of(st.just(()), st.lists(st.sampled_from(TIERS), min_size=1, max_size=2, unique=True).map(tuple)),
    state=st.sampled_from(["active", "active", "active", "expired", "revoked"]),
)
people = st.builds(
    PersonSpec,
    teams=st.frozensets(st.integers(0, TEAMS - 1), max_size=2),
    grants=st.lists(grant_specs, max_size=3).map(tuple),
    token=maybe(st.builds(TokenSpec, role=st.sampled_from(ROLES), team=st.integers(0, TEAMS - 1))),
)
worlds = st.builds(
    WorldSpec,
    viewer_for_everyone=st.booleans(),
    team_zones=st.lists(st.sampled_from(["", *ZONES]), min_size=TEAMS, max_size=TEAMS).map(tuple),
    people=st.lists(people, min_size=USERS, max_size=USERS).map(tuple),
)


@dataclass
class World:
    """What a generated world holds in the database."""

    users: list[User]
    teams: list[Team]
    regions: list[Region]
    clusters: list[Cluster]
    accounts: list[CloudAccount]
    environments: list[Environment] = field(default_factory=list)
    # Per person who has one: their API token and its secret.
    tokens: dict[int, tuple[ApiToken, str]] = field(default_factory=dict)


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example's savepoint: whatever it writes is gone when it ends, and Redis starts empty."""
    from portal.health import redis_client

    redis_client().flushdb()
    with transaction.atomic():
        try:
            yield
        finally:
            transaction.set_rollback(True)
    redis_client().flushdb()


def build(spec: WorldSpec) -> World:
    """Teams, regions with one cluster each, people with their memberships and grants."""
    if not spec.viewer_for_everyone:
        Role.objects.filter(everyone=True).update(everyone=False)
    for slug, permissions in CUSTOM_ROLES.items():
        Role.objects.get_or_create(
            slug=slug, defaults={"name": slug.replace("-", " ").title(), "permissions": permissions}
        )
    teams = [
        Team.objects.create(slug=f"team-{number}", name=f"Team {number}", residency_zone=zone)
        for number, zone in enumerate(spec.team_zones)
    ]
    accounts = [
        CloudAccount.objects.create(
            name=f"account-{number}",
            provider=Provider.AWS,
            external_id=f"{100000000000 + number}",
            role_arn=f"arn:aws:iam::{100000000000 + number}:role/portal",
        )
        for number in range(2)
    ]
    regions = [
        Region.objects.create(
            provider=Provider.AWS,
            code=code,
            residency_zone=zone,
            display_name=f"Region {code}",
            status=RegionStatus.ACTIVE,
            account=accounts[number % 2],
        )
        for number, (code, zone) in enumerate(REGIONS)
    ]
    clusters = [
        Cluster.objects.create(
            region=region,
            name=f"eks-{region.code}",
            kind=ClusterKind.EKS,
            kubernetes_version="1.31",
            api_endpoint=f"https://eks-{region.code}.example.com",
        )
        for region in regions
    ]
    roles = {role.slug: role for role in Role.objects.all()}
    users = []
    for number, person in enumerate(spec.people):
        user = User.objects.create(username=f"person-{number}", email=f"person-{number}@example.com")
        users.append(user)
        for team in sorted(person.teams):
            Membership.objects.create(team=teams[team], user=user)
        for grant in person.grants:
            Grant.objects.create(
                role=roles[grant.role],
                user=None if grant.grantee_team is not None else user,
                grantee_team=teams[grant.grantee_team] if grant.grantee_team is not None else None,
                team=teams[grant.team] if grant.team is not None else None,
                region=regions[grant.region] if grant.region is not None else None,
                zone=grant.zone,
                tiers=list(grant.tiers),
                reason="Generated for the list scoping test.",
                expires_at=timezone.now() - timedelta(minutes=1) if grant.state == "expired" else None,
                revoked_at=timezone.now() if grant.state == "revoked" else None,
            )
    world = World(users=users, teams=teams, regions=regions, clusters=clusters, accounts=accounts)
    for user, person in zip(users, spec.people, strict=True):
        if person.token is not None:
            token = ApiTokenFactory.create(owner=user, team=teams[person.token.team], role=roles[person.token.role])
            world.tokens[user.pk] = (token, api_token_secret(token))
    return world


def saved(tier: str) -> EnvironmentTemplate:
    """A template of ``tier`` (production ones never expire)."""
    lifetime: dict[str, Any] = {}
    if tier == Tier.PRODUCTION:
        lifetime = {"default_ttl_hours": None, "max_ttl_hours": None, "approval": "team_lead"}
    made = template(name=f"Template {tier}", slug=f"template-{tier}", tier=tier, **lifetime)
    made.save()
    return made


def add_environments(world: World) -> None:
    """Two environments per team and cluster, of different tiers, so every tier meets every team and region."""
    templates = {tier: saved(tier) for tier in TIERS}
    for team_number, team in enumerate(world.teams):
        for cluster_number, cluster in enumerate(world.clusters):
            for copy in range(2):
                tier = TIERS[(team_number + cluster_number + 2 * copy) % len(TIERS)]
                world.environments.append(
                    Environment.objects.create(
                        name=f"env-{team_number}-{cluster_number}-{copy}",
                        team=team,
                        template=templates[tier],
                        tier=tier,
                        cluster=cluster,
                        requested_by=world.users[(team_number + copy) % len(world.users)],
                        status=EnvironmentStatus.READY,
                        monthly_estimate=Decimal("100.00"),
                        currency="USD",
                    )
                )


# --- reading what a person is shown -----------------------------------------------------------------------------


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def allowed(user: User, objects: list[Any], action: str = policy.VIEW, token: ApiToken | None = None) -> set[Any]:
    """The ids of ``objects`` the policy lets ``user`` (through ``token``, if given) act on, one object at a time."""
    fresh = User.objects.get(pk=user.pk)  # no rules cached from an earlier example
    if token is not None:
        fresh.api_token = token  # type: ignore[attr-defined]  # as the token authentication sets it
    return {obj.pk for obj in objects if policy.can(fresh, action, obj)}


def api_ids(client: Client, url: str, key: str = "id", **params: str) -> set[Any]:
    """The ids of every object a list endpoint returns, over every page at the largest page size."""
    found: list[Any] = []
    page: str | None = url
    query: dict[str, str] | None = {"page_size": "500", **params}
    while page is not None:
        response = client.get(page, query)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        body = response.json()
        found += [item[key] for item in body["results"]]
        page, query = body["next"], None
    assert len(found) == len(set(found)), f"{url} lists an object twice"
    return set(found)


def page_ids(client: Client, url: str, pattern: str, **params: str) -> set[int]:
    """The ids a list page shows (taken from its rows' links or attributes), over every page of it."""
    regex = re.compile(pattern)
    found: set[int] = set()
    number = 1
    while True:
        response = client.get(url, {**params, "page": str(number)})
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        found |= {int(match) for match in regex.findall(html)}
        number += 1
        if f"page={number}" not in html:
            return found


def refused_or_empty(client: Client, url: str) -> bool:
    """A list a person holds no permission for at all answers 403 (or 404); that shows them nothing."""
    return client.get(url).status_code in (403, 404)


def check_list(
    world: World,
    objects: list[Any],
    reads: list[tuple[str, Callable[[Client], set[Any]], str]],
    *,
    expected: Callable[[User], set[Any]] | None = None,
) -> None:
    """For each person: every read (``(label, read, url)``) holds exactly the objects they may see.

    API reads are made again with the person's API token, when they have one, and must then hold exactly
    what the policy lets them see through it.
    """
    for user in world.users:
        client = client_for(user)
        want = expected(user) if expected is not None else allowed(user, objects)
        callers = [("", client, want)]
        if user.pk in world.tokens and expected is None:
            token, secret = world.tokens[user.pk]
            through_token = Client(headers={"Authorization": f"Bearer {secret}"})
            callers.append((" through their token", through_token, allowed(user, objects, token=token)))
        for label, read, url in reads:
            for how, caller, wanted in callers:
                if how and not label.startswith("API"):
                    continue  # pages are read in the browser, never with a token
                if not wanted and refused_or_empty(caller, url):
                    continue
                got = read(caller)
                assert got == wanted, (
                    f"{label} for {user.username}{how}: shows {sorted(got - wanted)} it must not, "
                    f"misses {sorted(wanted - got)} it must show"
                )


# --- the properties ---------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(spec=worlds)
def test_environment_lists_hold_exactly_what_the_policy_lets_each_person_see(spec: WorldSpec) -> None:
    with rolled_back():
        world = build(spec)
        add_environments(world)
        check_list(
            world,
            world.environments,
            [
                ("API", lambda client: api_ids(client, "/api/environments/"), "/api/environments/"),
                (
                    "page",
                    lambda client: page_ids(client, "/environments/", r'href="/environments/(\d+)/"'),
                    "/environments/",
                ),
            ],
        )
        templates = list(EnvironmentTemplate.objects.all())
        by_slug = {template.slug: template.pk for template in templates}
        check_list(
            world,
            templates,
            [
                ("API", lambda client: api_ids(client, "/api/environment-templates/"), "/api/environment-templates/"),
                (
                    "page",
                    lambda client: {
                        by_slug[slug]
                        for slug in page_slugs(
                            client, "/environments/templates/", r'<td><a href="/environments/templates/([\w-]+)/"'
                        )
                    },
                    "/environments/templates/",
                ),
            ],
        )


def add_deployments(world: World) -> list[Deployment]:
    """One deployment per environment, and per cluster one that belongs to no team and no tier."""
    started = timezone.now() - timedelta(hours=1)
    services = [
        Service.objects.create(slug=f"service-{n}", name=f"Service {n}", team=team)
        for n, team in enumerate(world.teams)
    ]
    found = [
        Deployment.objects.create(
            service=services[world.teams.index(environment.team)],
            environment=environment,
            cluster=environment.cluster,
            namespace=environment.name,
            team=environment.team,
            tier=environment.tier,
            version="1.0.0",
            source="api",
            started_at=started,
        )
        for environment in world.environments
    ]
    found += [
        Deployment.objects.create(
            cluster=cluster, namespace="monitoring", version="2.0.0", source="api", started_at=started
        )
        for cluster in world.clusters
    ]
    return found


@PROPERTY_SETTINGS
@given(spec=worlds)
def test_deployment_and_service_lists_hold_exactly_what_the_policy_lets_each_person_see(spec: WorldSpec) -> None:
    with rolled_back():
        world = build(spec)
        add_environments(world)
        deployments = add_deployments(world)
        services = list(Service.objects.all())
        check_list(
            world,
            deployments,
            [("API", lambda client: api_ids(client, "/api/deployments/"), "/api/deployments/")],
        )
        check_list(
            world,
            services,
            [
                ("API", lambda client: api_ids(client, "/api/services/"), "/api/services/"),
                (
                    "page",
                    lambda client: {
                        Service.objects.get(slug=slug).pk
                        for slug in page_slugs(
                            client, "/deployments/services/", r'<td><a href="/deployments/services/([\w-]+)/"'
                        )
                    },
                    "/deployments/services/",
                ),
            ],
        )


def page_slugs(client: Client, url: str, pattern: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    return set(re.findall(pattern, response.content.decode()))


def add_budgets(world: World) -> list[Budget]:
    """A budget per team, and one per environment of the first cluster (owned by the environment's team)."""
    found = [
        Budget.objects.create(name=f"Budget of {team.name}", team=team, amount=Decimal("1000")) for team in world.teams
    ]
    found += [
        Budget.objects.create(
            name=f"Budget of {environment.name}", team=environment.team, environment=environment, amount=Decimal("100")
        )
        for environment in world.environments
        if environment.cluster_id == world.clusters[0].pk
    ]
    return found


@PROPERTY_SETTINGS
@given(spec=worlds)
def test_budget_lists_hold_exactly_what_the_policy_lets_each_person_see(spec: WorldSpec) -> None:
    with rolled_back():
        world = build(spec)
        add_environments(world)
        budgets = add_budgets(world)
        check_list(
            world,
            budgets,
            [
                ("API", lambda client: api_ids(client, "/api/budgets/"), "/api/budgets/"),
                (
                    "page",
                    lambda client: page_ids(client, "/costs/budgets/", r'href="/costs/budgets/(\d+)/"'),
                    "/costs/budgets/",
                ),
            ],
        )


def add_recommendations(world: World) -> list[Recommendation]:
    """A recommendation per environment, and per cluster one about its idle capacity (no team, no tier)."""
    found = [
        Recommendation.objects.create(
            key=f"environment_ttl:{environment.pk}:USD",
            kind="environment_ttl",
            title=f"Give {environment.name} a lifetime",
            monthly_saving=Decimal("10.00"),
            currency="USD",
            team=environment.team,
            environment=environment,
            cluster=environment.cluster,
            region=environment.cluster.region,
            tier=environment.tier,
        )
        for environment in world.environments
    ]
    found += [
        Recommendation.objects.create(
            key=f"spot:{cluster.pk}:USD",
            kind="spot",
            title=f"Run {cluster.name}'s spare capacity on spot",
            monthly_saving=Decimal("20.00"),
            currency="USD",
            cluster=cluster,
            region=cluster.region,
        )
        for cluster in world.clusters
    ]
    return found


@PROPERTY_SETTINGS
@given(spec=worlds)
def test_the_savings_page_holds_exactly_the_recommendations_the_policy_lets_each_person_see(spec: WorldSpec) -> None:
    with rolled_back():
        world = build(spec)
        add_environments(world)
        recommendations = add_recommendations(world)
        check_list(
            world,
            recommendations,
            [
                (
                    "page",
                    lambda client: page_ids(client, "/costs/savings/", r'data-recommendation="(\d+)"'),
                    "/costs/savings/",
                )
            ],
        )


def add_cost_rows(world: World) -> list[CostRollup]:
    """A day's cost of every environment, and per cluster its idle share (no team, no environment, no tier).

    Row number ``n`` counts ``2**n`` line items, so the line items a total adds up to name exactly the rows in it.
    """
    today = timezone.localdate()
    specs: list[dict[str, Any]] = [
        {
            "team": environment.team,
            "environment": environment,
            "cluster": environment.cluster,
            "region": environment.cluster.region,
            "tier": environment.tier,
            "allocation": "namespace",
        }
        for environment in world.environments
    ]
    specs += [{"cluster": cluster, "region": cluster.region, "allocation": "idle"} for cluster in world.clusters]
    return [
        CostRollup.objects.create(
            day=today,
            billing_period_start=today.replace(day=1),
            currency="USD",
            provider="AWS",
            region_code=fields["region"].code,
            charge_category="usage",
            billed_cost=Decimal("1.5"),
            effective_cost=Decimal("1.5"),
            list_cost=Decimal("2"),
            contracted_cost=Decimal("1.5"),
            line_items=2**number,
            **fields,
        )
        for number, fields in enumerate(specs)
    ]


def breakdown_line_items(client: Client) -> set[int]:
    """The rows the cost breakdown API adds up, told apart by their line items (row n counts 2**n)."""
    response = client.get("/api/costs/breakdown/", {"by": "environment"})
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    counted = sum(total["line_items"] for total in body["totals"])
    assert counted == sum(row["line_items"] for row in body["rows"]), "the rows do not add up to the totals"
    return {1 << bit for bit in range(counted.bit_length()) if counted >> bit & 1}


def breakdown_page_keys(client: Client) -> set[str]:
    """The environments the cost breakdown page has a row for ("-": cost of no environment)."""
    response = client.get("/costs/breakdown/", {"by": "environment"})
    assert response.status_code == 200
    return set(re.findall(r'<tr data-key="([^"]+)">', response.content.decode()))


@PROPERTY_SETTINGS
@given(spec=worlds)
def test_cost_breakdowns_add_up_exactly_the_cost_rows_the_policy_lets_each_person_see(spec: WorldSpec) -> None:
    with rolled_back():
        world = build(spec)
        add_environments(world)
        rows = add_cost_rows(world)
        for user in world.users:
            client = client_for(user)
            exportable = {row.line_items for row in rows if row.pk in allowed(user, rows, policy.EXPORT)}
            for url in ("/api/costs/breakdown/export/", "/costs/breakdown/export/"):
                if exportable or not refused_or_empty(client, url):
                    assert exported_line_items(client, url) == exportable, f"{url} for {user.username}"
            visible = [row for row in rows if row.pk in allowed(user, rows)]
            if not visible and refused_or_empty(client, "/api/costs/breakdown/"):
                continue
            assert breakdown_line_items(client) == {row.line_items for row in visible}, f"API for {user.username}"
            keys = {str(row.environment_id) if row.environment_id else "-" for row in visible}
            assert breakdown_page_keys(client) == keys, f"page for {user.username}"


def exported_line_items(client: Client, url: str) -> set[int]:
    """The rows a CSV export of the breakdown adds up, told apart by their line items (row n counts 2**n)."""
    response = client.get(url, {"by": "environment", "rows": "totals"})
    assert response.status_code == 200, (url, response.status_code)
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    counted = sum(int(line["line_items"]) for line in csv.DictReader(io.StringIO(text)))
    return {1 << bit for bit in range(counted.bit_length()) if counted >> bit & 1}


@PROPERTY_SETTINGS
@given(spec=worlds)
def test_the_audit_log_holds_exactly_the_events_the_policy_lets_each_person_see(spec: WorldSpec) -> None:
    with rolled_back():
        world = build(spec)
        for team in world.teams:
            audit_events(2, team=team, object_repr=f"change of {team.name}")
        audit_events(2, object_repr="a platform change")
        check_list(
            world,
            [],
            [("page", lambda client: page_ids(client, "/access/audit/", r'<tr id="event-(\d+)">'), "/access/audit/")],
            expected=lambda user: allowed(user, list(AuditEvent.objects.all())),
        )


def add_approvals(world: World) -> list[ApprovalRequest]:
    """Every other environment waits for approval, asked by its requester; one more was decided already."""
    subject_type = ContentType.objects.get_for_model(Environment)
    found = [
        ApprovalRequest.objects.create(
            subject_type=subject_type,
            subject_id=str(environment.pk),
            purpose="environments.provision",
            summary=f"Provision {environment.name}",
            requested_by=environment.requested_by,
            status=ApprovalStatus.PENDING if number % 4 else ApprovalStatus.APPROVED,
        )
        for number, environment in enumerate(world.environments)
        if number % 2 == 0
    ]
    return found


def waiting_for(user: User, approvals: list[ApprovalRequest]) -> set[int]:
    """Pending requests someone else asked for, about a subject the user may approve."""
    fresh = User.objects.get(pk=user.pk)
    return {
        approval.pk
        for approval in approvals
        if approval.status == ApprovalStatus.PENDING
        and approval.requested_by_id != user.pk
        and policy.can(fresh, policy.APPROVE, approval.subject)
    }


@PROPERTY_SETTINGS
@given(spec=worlds)
def test_approval_lists_hold_exactly_the_requests_each_person_may_decide_or_asked_for(spec: WorldSpec) -> None:
    with rolled_back():
        world = build(spec)
        add_environments(world)
        approvals = add_approvals(world)
        for user in world.users:
            client = client_for(user)
            waiting = waiting_for(user, approvals)
            mine = {approval.pk for approval in approvals if approval.requested_by_id == user.pk}
            response = client.get("/api/approvals/", {"scope": "waiting"})
            assert {item["id"] for item in response.json()} == waiting, f"waiting for {user.username}"
            response = client.get("/api/approvals/", {"scope": "mine"})
            assert {item["id"] for item in response.json()} == mine, f"asked by {user.username}"
            assert page_ids(client, "/approvals/", r'href="/approvals/(\d+)/"') == waiting | mine, (
                f"page of {user.username}"
            )


REQUESTED_REGIONS = [("eu-west-2", "EU"), ("eu-south-1", "EU"), ("ap-southeast-4", "AU"), ("us-west-2", "US")]


@PROPERTY_SETTINGS
@given(spec=worlds)
def test_inventory_lists_hold_exactly_what_the_policy_lets_each_person_see(spec: WorldSpec) -> None:
    """Region requests, failovers, cloud accounts, regions and clusters."""
    with rolled_back():
        world = build(spec)
        region_requests = [
            RegionRequest.objects.create(
                provider=Provider.AWS,
                code=code,
                residency_zone=zone,
                account=world.accounts[number % 2],
                requested_by=world.users[number % len(world.users)],
            )
            for number, (code, zone) in enumerate(REQUESTED_REGIONS)
        ]
        failovers = [
            FailoverRequest.objects.create(
                region=region,
                partner=world.regions[(number + 1) % len(world.regions)],
                database=f"{region.code}-postgres",
                reason="A drill.",
                requested_by=world.users[0],
            )
            for number, region in enumerate(world.regions)
        ]
        check_list(
            world,
            region_requests,
            [
                ("API", lambda client: api_ids(client, "/api/region-requests/"), "/api/region-requests/"),
                (
                    "page",
                    lambda client: page_ids(client, "/regions/requests/", r'href="/regions/requests/(\d+)/"'),
                    "/regions/requests/",
                ),
            ],
        )
        check_list(
            world,
            failovers,
            [("API", lambda client: api_ids(client, "/api/regions/failovers/"), "/api/regions/failovers/")],
        )
        check_list(
            world,
            world.accounts,
            [("API", lambda client: api_ids(client, "/api/cloud-accounts/"), "/api/cloud-accounts/")],
        )
        check_list(world, world.clusters, [("API", lambda client: api_ids(client, "/api/clusters/"), "/api/clusters/")])
        namespaces = [
            Namespace.objects.create(cluster=cluster, name=f"namespace-{number}", team=team)
            for cluster in world.clusters
            for number, team in enumerate([*world.teams, None])
        ]
        check_list(world, namespaces, [("API", lambda client: api_ids(client, "/api/namespaces/"), "/api/namespaces/")])
        check_list(world, world.regions, [("API", lambda client: api_ids(client, "/api/regions/"), "/api/regions/")])
