"""SSO mapping rules: administered from the portal, audited, with a preview of what claims would give."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from access.audit import services as audit
from access.models import AuditEvent, Grant, Membership, Role, SsoRule, Team
from access.permissions import BuiltinRole
from portal.demo import Persona
from tests.factories import SsoRuleFactory

ClientFor = Callable[[Persona | None], Client]
# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

RULES = reverse("access:sso_rules")
PREVIEW = reverse("access:sso_rule_preview")


def team(slug: str) -> Team:
    return Team.objects.get(slug=slug)


def rule_form(**overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "name": "Students engineering",
        "provider": "",
        "claim": "groups",
        "value": "eng-students",
        "enabled": "on",
        "team": team("student-experience").pk,
        "membership_role": "member",
        "role": "",
        "scope_team": "",
        "scope_region": "",
        "scope_zone": "",
    }
    form.update(overrides)
    return form


def test_an_admin_creates_a_rule_and_it_is_audited(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("access:sso_rule_create"), rule_form())

    rule = SsoRule.objects.get(name="Students engineering")
    assert response.status_code == 302
    assert rule.team == team("student-experience")
    assert AuditEvent.objects.filter(verb=audit.SSO_RULE_CREATED, object_id=str(rule.pk)).exists()


def test_a_rule_that_gives_nothing_is_refused_with_the_input_kept(client_for: ClientFor) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    rules = SsoRule.objects.count()

    response = client.post(reverse("access:sso_rule_create"), rule_form(team=""))

    assert response.status_code == 200
    assert b"A rule must add a team membership, grant a role, or both." in response.content
    assert b'value="eng-students"' in response.content
    assert SsoRule.objects.count() == rules


def test_an_admin_edits_disables_and_deletes_a_rule(client_for: ClientFor) -> None:
    rule = SsoRuleFactory.create(team=team("tutor-tools"), value="tutors")
    client = client_for(Persona.PLATFORM_ADMIN)

    client.post(reverse("access:sso_rule_edit", args=[rule.pk]), rule_form(name="Tutors", value="tutors-all"))
    rule.refresh_from_db()
    assert rule.value == "tutors-all"

    client.post(reverse("access:sso_rule_toggle", args=[rule.pk]), {"enabled": "false"})
    rule.refresh_from_db()
    assert not rule.enabled

    client.post(reverse("access:sso_rule_delete", args=[rule.pk]))
    assert not SsoRule.objects.filter(pk=rule.pk).exists()
    verbs = set(
        AuditEvent.objects.filter(object_id=str(rule.pk), object_type="access.ssorule").values_list("verb", flat=True)
    )
    assert verbs == {audit.SSO_RULE_CHANGED, audit.SSO_RULE_DELETED}


def test_the_preview_shows_what_the_claims_give_rule_by_rule_and_saves_nothing(client_for: ClientFor) -> None:
    SsoRuleFactory.create(name="Students", value="eng-students", team=team("student-experience"))
    SsoRuleFactory.create(
        name="Leads approve",
        value="leads",
        team=None,
        role=Role.objects.get(slug=BuiltinRole.TEAM_LEAD),
        scope_team=team("student-experience"),
    )
    SsoRuleFactory.create(name="Tutors", value="tutors", team=team("tutor-tools"))
    memberships, grants = Membership.objects.count(), Grant.objects.count()
    claims = {"sub": "abc-123", "groups": ["eng-students", "leads"]}

    response = client_for(Persona.PLATFORM_ADMIN).post(
        PREVIEW, {"provider": "entra", "claims": json.dumps(claims)}, headers={"HX-Request": "true"}
    )
    page = response.content.decode()

    assert "<html" not in page
    assert "Membership: <strong>member</strong> of <strong>Student Experience</strong> — rule “Students”" in page
    assert "Grant: <strong>Team lead (approver)</strong> on team Student Experience" in page
    assert "Tutors" not in page
    assert (Membership.objects.count(), Grant.objects.count()) == (memberships, grants)


def test_the_preview_says_when_no_rule_matches(client_for: ClientFor) -> None:
    SsoRuleFactory.create(value="eng-students")

    response = client_for(Persona.AUDITOR).post(PREVIEW, {"claims": '{"groups": ["marketing"]}'})

    assert b"No enabled rule matches these claims" in response.content


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ('{"groups": ["eng-students"', b"This is not valid JSON"),
        ('["eng-students"]', b"The claims must be a JSON object"),
    ],
)
def test_bad_claims_get_a_clear_message(client_for: ClientFor, claims: str, message: bytes) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(PREVIEW, {"claims": claims}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert message in response.content


def test_an_auditor_reads_rules_but_may_not_change_them(client_for: ClientFor) -> None:
    rule = SsoRuleFactory.create()
    client = client_for(Persona.AUDITOR)

    assert client.get(RULES).status_code == 200
    assert client.post(reverse("access:sso_rule_toggle", args=[rule.pk]), {"enabled": "false"}).status_code == 403
    assert client.post(reverse("access:sso_rule_create"), rule_form()).status_code == 403
    rule.refresh_from_db()
    assert rule.enabled
