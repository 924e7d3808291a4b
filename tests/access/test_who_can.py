"""'Who can do what on this object' agrees with the policy, and shows on object pages to people who may see grants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access import policy, selectors
from access.models import Grant, Role, Team, User
from access.permissions import BuiltinRole
from portal.demo import Persona
from regions.models import Cluster, Namespace, Region
from tests.factories import GrantFactory, RoleFactory, UserFactory

ClientFor = Callable[[Persona | None], Client]
# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]


def sample_objects() -> list[Model]:
    namespace = Namespace.objects.select_related("cluster__region").get(
        cluster__name="eks-eu-west-1", name="tutor-services"
    )
    return [
        Region.objects.get(code="eu-west-1"),
        Region.objects.get(code="us-east-1"),
        Cluster.objects.get(name="eks-ap-southeast-2"),
        namespace,
        Team.objects.get(slug="student-experience"),
        Team.objects.get(slug="tutor-tools"),
        Grant.objects.get(grantee_team__slug="student-experience", team__slug="student-experience"),
    ]


@pytest.fixture
def varied_grants(demo: None) -> None:
    """Grants limited every way: by zone, region, team, to a team, an expired one and a revoked one."""
    operator = RoleFactory.create(permissions=["inventory.*", "teams.change"])
    GrantFactory.create(user=UserFactory.create(username="eu-operator"), role=operator, zone="EU")
    GrantFactory.create(
        user=UserFactory.create(username="sydney-operator"),
        role=operator,
        region=Region.objects.get(code="ap-southeast-2"),
    )
    GrantFactory.create(
        user=None,
        grantee_team=Team.objects.get(slug="data-analytics"),
        role=operator,
        team=Team.objects.get(slug="tutor-tools"),
    )
    expired = GrantFactory.create(user=UserFactory.create(username="former-operator"), role=operator)
    Grant.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    GrantFactory.create(user=UserFactory.create(username="revoked-operator"), role=operator, revoked_at=timezone.now())
    UserFactory.create(username="gone", is_active=False)


def test_who_can_agrees_with_the_policy_for_every_user_object_and_permission(varied_grants: None) -> None:
    users = list(User.objects.all())
    for obj in sample_objects():
        answer = selectors.who_can(obj)
        for entry in answer.permissions:
            action = entry.permission.split(".", 1)[1]
            holders = answer.user_ids(entry.permission)
            for user in users:
                policy.forget(user)
                assert (user.pk in holders) == policy.can(user, action, obj), (
                    f"who_can and policy.can disagree on {user} {entry.permission} {obj}"
                )


def test_who_can_lists_the_grant_and_its_limits_and_the_roles_everyone_holds(varied_grants: None) -> None:
    eu_west_1 = Region.objects.get(code="eu-west-1")

    answer = selectors.who_can(eu_west_1)
    view = next(entry for entry in answer.permissions if entry.permission == "inventory.view")
    change = next(entry for entry in answer.permissions if entry.permission == "inventory.change")

    assert [role.slug for role in view.everyone_roles] == [BuiltinRole.VIEWER]
    assert {grant.user.username for grant in change.grants if grant.user} == {
        "admin",
        "admin2",
        "admin3",
        "eu-operator",
    }
    assert not change.everyone_roles


def test_the_region_page_shows_who_can_to_an_admin_and_not_to_a_developer(client_for: ClientFor) -> None:
    url = reverse("regions:detail", args=["aws", "eu-west-1"])

    admin_page = client_for(Persona.PLATFORM_ADMIN).get(url).content.decode()
    developer_page = client_for(Persona.DEVELOPER).get(url).content.decode()

    assert "Who can do what on the region Europe (Ireland)" in admin_page
    assert "Every active user (role Viewer)" in admin_page
    assert "Who can do what" not in developer_page


def test_the_cluster_page_shows_who_can_collapsed(client_for: ClientFor) -> None:
    page = client_for(Persona.AUDITOR).get(reverse("regions:cluster", args=["aws", "eu-west-1", "eks-eu-west-1"]))

    assert b'<details class="who-can' in page.content


def test_a_lead_sees_only_the_grants_they_may_see_on_their_team_page(client_for: ClientFor) -> None:
    GrantFactory.create(
        role=Role.objects.get(slug=BuiltinRole.AUDITOR), user=UserFactory.create(username="outsider-auditor")
    )
    team = Team.objects.get(slug="student-experience")

    page = client_for(Persona.TEAM_LEAD).get(reverse("access:team", args=[team.pk])).content.decode()
    who_can = page[page.index('<details class="who-can') :]

    assert "Members of Student Experience" in who_can
    assert "outsider-auditor" not in who_can
