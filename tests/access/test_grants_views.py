"""Grants: filtered list, a grant form with reason and expiry, revoke with a reason, time-bound access."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access import policy
from access.audit import services as audit
from access.models import AuditEvent, Grant, Role, Team, User
from access.permissions import BuiltinRole
from portal.demo import Persona
from tests.factories import GrantFactory, RoleFactory, TeamFactory, UserFactory
from tests.helpers import queries_for

ClientFor = Callable[[Persona | None], Client]
# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

GRANTS = reverse("access:grants")
GRANT_CREATE = reverse("access:grant_create")


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


def in_a_week() -> str:
    return (timezone.localtime() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")


def grant_form(**overrides: object) -> dict[str, object]:
    developer = User.objects.get(username="developer")
    form: dict[str, object] = {
        "grantee_user": developer.pk,
        "role": role(BuiltinRole.DEVELOPER).pk,
        "team": Team.objects.get(slug="tutor-tools").pk,
        "expires_at": in_a_week(),
        "reason": "Covering for Tutor Tools during the exam week.",
    }
    form.update(overrides)
    return form


def test_an_admin_grants_a_time_bound_role_on_another_team(client_for: ClientFor) -> None:
    developer = User.objects.get(username="developer")
    tutor_tools = Team.objects.get(slug="tutor-tools")

    def develops_on_tutor_tools() -> bool:
        policy.forget(developer)
        return any(
            rule.team == tutor_tools.pk and "deployments.change" in rule.permissions
            for rule in policy.rules_for(developer)
        )

    assert not develops_on_tutor_tools()

    response = client_for(Persona.PLATFORM_ADMIN).post(GRANT_CREATE, grant_form())

    grant = Grant.objects.get(user=developer, team__slug="tutor-tools")
    assert response.status_code == 302
    assert grant.expires_at is not None
    assert grant.reason == "Covering for Tutor Tools during the exam week."
    assert grant.granted_by == User.objects.get(username="admin")
    assert AuditEvent.objects.filter(verb=audit.GRANT_CREATED, object_id=str(grant.pk)).exists()
    assert develops_on_tutor_tools()


def test_a_double_submit_makes_one_grant(client_for: ClientFor) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    form = grant_form()

    first = client.post(GRANT_CREATE, form)
    second = client.post(GRANT_CREATE, form)

    assert Grant.objects.filter(user__username="developer", team__slug="tutor-tools").count() == 1
    assert first.headers["Location"] == second.headers["Location"]


def test_a_grant_without_a_reason_is_refused_with_the_input_kept(client_for: ClientFor) -> None:
    form = grant_form(reason="   ")

    response = client_for(Persona.PLATFORM_ADMIN).post(GRANT_CREATE, form)

    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert f'value="{form["expires_at"]}"'.encode() in response.content
    assert not Grant.objects.filter(team__slug="tutor-tools", user__username="developer").exists()


def test_a_reason_longer_than_a_long_paragraph_is_refused_in_words(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(GRANT_CREATE, grant_form(reason="x" * 2001))

    assert response.status_code == 200
    assert b"Ensure this value has at most 2000 characters (it has 2001)." in response.content
    assert not Grant.objects.filter(team__slug="tutor-tools", user__username="developer").exists()
    assert Grant._meta.get_field("reason").max_length == 2000  # the model refuses it too (full_clean)


def test_a_grant_to_nobody_or_to_both_a_person_and_a_team_is_refused(client_for: ClientFor) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    team = Team.objects.get(slug="admin-apps").pk

    nobody = client.post(GRANT_CREATE, grant_form(grantee_user=""))
    both = client.post(GRANT_CREATE, grant_form(grantee_team=team))

    for response in (nobody, both):
        assert response.status_code == 200
        assert b"Choose one person or one team" in response.content
        assert b"Covering for Tutor Tools" in response.content


def test_an_expiry_in_the_past_is_refused(client_for: ClientFor) -> None:
    yesterday = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    response = client_for(Persona.PLATFORM_ADMIN).post(GRANT_CREATE, grant_form(expires_at=yesterday))

    assert b"Choose a time in the future." in response.content
    assert not Grant.objects.filter(team__slug="tutor-tools", user__username="developer").exists()


def test_nobody_grants_a_permission_they_do_not_hold(demo: None) -> None:
    # A delegated administrator: may grant, but holds only access and inventory permissions.
    delegate = UserFactory.create()
    GrantFactory.create(user=delegate, role=RoleFactory.create(permissions=["access.*", "inventory.view"]))
    client = Client()
    client.force_login(delegate)

    response = client.post(GRANT_CREATE, grant_form(role=role(BuiltinRole.PLATFORM_ADMIN).pk))

    assert response.status_code == 200
    assert b"You cannot grant Platform admin" in response.content
    assert not Grant.objects.filter(granted_by=delegate).exists()


def test_an_admin_revokes_with_a_reason_and_a_repeat_is_harmless(client_for: ClientFor) -> None:
    grant = GrantFactory.create(role=role(BuiltinRole.DEVELOPER), user=User.objects.get(username="developer"))
    client = client_for(Persona.PLATFORM_ADMIN)
    url = reverse("access:grant_revoke", args=[grant.pk])

    confirm = client.get(url)
    first = client.post(url, {"reason": "Exam week is over."})
    second = client.post(url, {"reason": "Again."})

    grant.refresh_from_db()
    assert b"Revoke Developer from" in confirm.content
    assert first.status_code == second.status_code == 302
    assert grant.revoke_reason == "Exam week is over."
    assert AuditEvent.objects.filter(verb=audit.GRANT_REVOKED, object_id=str(grant.pk)).count() == 1


def test_a_revoke_without_a_reason_is_refused(client_for: ClientFor) -> None:
    grant = GrantFactory.create()

    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("access:grant_revoke", args=[grant.pk]), {"reason": ""})

    grant.refresh_from_db()
    assert response.status_code == 200
    assert grant.revoked_at is None


def test_a_lead_sees_grants_on_their_team_only_and_may_not_revoke_them(client_for: ClientFor) -> None:
    mine = GrantFactory.create(team=Team.objects.get(slug="student-experience"), reason="Mine to see")
    other = GrantFactory.create(team=TeamFactory.create(), reason="Not mine to see")
    client = client_for(Persona.TEAM_LEAD)

    listing = client.get(GRANTS).content.decode()

    assert "Mine to see" in listing
    assert "Not mine to see" not in listing
    assert client.get(reverse("access:grant", args=[other.pk])).status_code == 404
    assert client.post(reverse("access:grant_revoke", args=[mine.pk]), {"reason": "no"}).status_code == 403


def test_the_list_filters_by_status_and_greys_expired_grants(client_for: ClientFor) -> None:
    expired = GrantFactory.create(reason="Long gone")
    Grant.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    GrantFactory.create(reason="Still here")
    client = client_for(Persona.AUDITOR)

    only_expired = client.get(GRANTS, {"status": "expired"}).content.decode()
    everything = client.get(GRANTS).content.decode()

    assert "Long gone" in only_expired
    assert "Still here" not in only_expired
    assert 'class="grant-inactive' in everything
    assert "Expired" in everything


def test_the_list_filters_by_source_and_grantee(client_for: ClientFor) -> None:
    GrantFactory.create(reason="From the IdP", source=Grant.Source.SSO, user=UserFactory.create(username="sso-person"))
    client = client_for(Persona.AUDITOR)

    sso = client.get(GRANTS, {"source": "sso"}).content.decode()
    by_name = client.get(GRANTS, {"q": "sso-person"}).content.decode()

    assert "From the IdP" in sso
    assert "Demo auditor" not in sso
    assert "From the IdP" in by_name


def test_the_grant_list_runs_the_same_number_of_queries_after_20_more_grants(client_for: ClientFor) -> None:
    client = client_for(Persona.AUDITOR)
    before = queries_for(client, GRANTS)
    GrantFactory.create_batch(10, team=TeamFactory.create())
    GrantFactory.create_batch(10, user=None, grantee_team=TeamFactory.create())

    assert queries_for(client, GRANTS) == before
