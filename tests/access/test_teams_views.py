"""Teams pages: list, detail, create, and members managed by admins and by a team's own lead."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from access import services
from access.audit import services as audit
from access.models import AuditEvent, Membership, Team, User
from portal.demo import Persona
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.helpers import queries_for

ClientFor = Callable[[Persona | None], Client]
# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

TEAMS = reverse("access:teams")


def team_of(slug: str) -> Team:
    return Team.objects.get(slug=slug)


def test_the_team_list_shows_member_counts_and_searches_by_name(client_for: ClientFor) -> None:
    client = client_for(Persona.DEVELOPER)

    everything = client.get(TEAMS).content.decode()
    found = client.get(TEAMS, {"q": "tutor"}).content.decode()

    assert "Student Experience" in everything
    assert "Tutor Tools" in found
    assert "Student Experience" not in found


def test_the_team_list_runs_the_same_number_of_queries_after_20_more_teams(client_for: ClientFor) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    before = queries_for(client, TEAMS)
    for team in TeamFactory.create_batch(20):
        MembershipFactory.create_batch(2, team=team)

    assert queries_for(client, TEAMS) == before


def test_an_htmx_search_answers_with_the_table_only(client_for: ClientFor) -> None:
    response = client_for(Persona.DEVELOPER).get(TEAMS, {"q": "core"}, headers={"HX-Request": "true"})

    assert b"<html" not in response.content
    assert b"Core Platform" in response.content


def test_the_team_page_shows_members_with_their_team_role_and_the_grants_on_the_team(
    client_for: ClientFor,
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).get(reverse("access:team", args=[team_of("student-experience").pk]))
    page = response.content.decode()

    assert "Lena Okafor" in page
    assert "Dev Patel" in page
    assert "Members of Student Experience develop on its services." in page  # held by the team, limited to it
    assert "Demo team lead." in page  # the lead's grant is limited to the team


def test_a_developer_sees_the_members_but_no_grants_and_no_controls(client_for: ClientFor) -> None:
    page = client_for(Persona.DEVELOPER).get(reverse("access:team", args=[team_of("student-experience").pk]))

    assert b"Lena Okafor" in page.content
    assert b"develop on its services" not in page.content
    assert b"Add member" not in page.content


def test_an_admin_creates_a_team_and_the_event_is_audited(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:team_create"), {"slug": "payments", "name": "Payments", "description": "Billing."}
    )

    team = Team.objects.get(slug="payments")
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("access:team", args=[team.pk])
    assert AuditEvent.objects.filter(verb=audit.TEAM_CREATED, object_id=str(team.pk)).exists()


def test_a_taken_slug_is_refused_on_the_form_with_the_input_kept(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:team_create"), {"slug": "core-platform", "name": "Another core"}
    )

    assert response.status_code == 200
    assert b"already exists" in response.content
    assert b'value="Another core"' in response.content


def test_a_lead_adds_a_person_to_their_own_team_in_place(client_for: ClientFor) -> None:
    newcomer = UserFactory.create(username="newcomer")
    team = team_of("student-experience")

    response = client_for(Persona.TEAM_LEAD).post(
        reverse("access:team_member_set", args=[team.pk]),
        {"user": newcomer.pk, "role": Membership.Role.MEMBER},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"newcomer" in response.content
    assert Membership.objects.filter(team=team, user=newcomer).exists()
    event = AuditEvent.objects.get(verb=audit.MEMBER_ADDED, team=team)
    assert event.actor_label == "lead"


def test_adding_the_same_person_twice_makes_one_membership(client_for: ClientFor) -> None:
    newcomer = UserFactory.create()
    team = team_of("student-experience")
    client = client_for(Persona.TEAM_LEAD)
    url = reverse("access:team_member_set", args=[team.pk])

    client.post(url, {"user": newcomer.pk, "role": "member"})
    client.post(url, {"user": newcomer.pk, "role": "member"})

    assert Membership.objects.filter(team=team, user=newcomer).count() == 1
    assert AuditEvent.objects.filter(verb=audit.MEMBER_ADDED, team=team).count() == 1


def test_a_lead_makes_a_member_lead_and_removes_them(client_for: ClientFor) -> None:
    team = team_of("student-experience")
    developer = User.objects.get(username="developer")
    client = client_for(Persona.TEAM_LEAD)

    client.post(reverse("access:team_member_role", args=[team.pk, developer.pk]), {"role": "lead"})
    assert Membership.objects.get(team=team, user=developer).role == Membership.Role.LEAD

    client.post(reverse("access:team_member_remove", args=[team.pk, developer.pk]))
    assert not Membership.objects.filter(team=team, user=developer).exists()
    assert AuditEvent.objects.filter(verb=audit.MEMBER_REMOVED, team=team).exists()


def test_a_lead_may_not_manage_another_teams_members(client_for: ClientFor) -> None:
    other = team_of("tutor-tools")
    stranger = UserFactory.create()

    response = client_for(Persona.TEAM_LEAD).post(
        reverse("access:team_member_set", args=[other.pk]), {"user": stranger.pk, "role": "member"}
    )

    assert response.status_code == 403
    assert not Membership.objects.filter(team=other, user=stranger).exists()


def test_a_lead_may_not_edit_another_team(client_for: ClientFor) -> None:
    other = team_of("tutor-tools")

    response = client_for(Persona.TEAM_LEAD).post(reverse("access:team_edit", args=[other.pk]), {"name": "Mine now"})

    assert response.status_code == 403
    assert team_of("tutor-tools").name == "Tutor Tools"


def test_a_lead_renames_their_own_team(client_for: ClientFor) -> None:
    team = team_of("student-experience")

    client_for(Persona.TEAM_LEAD).post(
        reverse("access:team_edit", args=[team.pk]), {"name": "Student Journeys", "description": "Renamed."}
    )

    assert team_of("student-experience").name == "Student Journeys"
    assert AuditEvent.objects.filter(verb=audit.TEAM_CHANGED, object_id=str(team.pk)).exists()


def test_an_admin_creates_a_team_with_a_residency_zone_and_the_event_records_it(client_for: ClientFor) -> None:
    client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:team_create"), {"slug": "sydney-ops", "name": "Sydney Ops", "residency_zone": "AU"}
    )

    team = team_of("sydney-ops")
    assert team.residency_zone == "AU"
    event = AuditEvent.objects.get(verb=audit.TEAM_CREATED, object_id=str(team.pk))
    assert event.after is not None
    assert event.after["residency_zone"] == "AU"


def test_an_unknown_zone_is_refused_on_the_form(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:team_create"), {"slug": "moon-ops", "name": "Moon Ops", "residency_zone": "MOON"}
    )

    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not Team.objects.filter(slug="moon-ops").exists()


def test_an_admin_moves_a_team_to_another_zone_and_the_change_is_audited(client_for: ClientFor) -> None:
    team = team_of("student-experience")
    assert team.residency_zone == "EU"

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:team_edit", args=[team.pk]),
        {"name": team.name, "description": team.description, "residency_zone": "US"},
    )

    assert response.status_code == 302
    assert team_of("student-experience").residency_zone == "US"
    event = AuditEvent.objects.get(verb=audit.TEAM_CHANGED, object_id=str(team.pk))
    assert event.before is not None
    assert event.after is not None
    assert (event.before["residency_zone"], event.after["residency_zone"]) == ("EU", "US")


def test_an_admin_lifts_a_teams_zone(client_for: ClientFor) -> None:
    team = team_of("student-experience")

    client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:team_edit", args=[team.pk]), {"name": team.name, "residency_zone": ""}
    )

    assert team_of("student-experience").residency_zone == ""


def test_a_lead_sees_their_teams_zone_but_cannot_lift_it_through_the_form(client_for: ClientFor) -> None:
    team = team_of("student-experience")
    lead = client_for(Persona.TEAM_LEAD)
    url = reverse("access:team_edit", args=[team.pk])

    form = lead.get(url).context["form"]
    assert form["residency_zone"].value() == "EU"
    assert form.fields["residency_zone"].disabled

    response = lead.post(url, {"name": "Student Journeys", "residency_zone": ""})

    assert response.status_code == 302
    assert team_of("student-experience").name == "Student Journeys"  # the rest of the edit is kept
    assert team_of("student-experience").residency_zone == "EU"


def test_a_lead_cannot_change_their_teams_zone_through_the_service(persona: Callable[[Persona], User]) -> None:
    team = team_of("student-experience")

    with pytest.raises(PermissionDenied, match="change where a team's data must stay"):
        services.team_update(actor=persona(Persona.TEAM_LEAD), team_id=team.pk, name=team.name, residency_zone="")

    assert team_of("student-experience").residency_zone == "EU"
    assert not AuditEvent.objects.filter(verb=audit.TEAM_CHANGED).exists()


def test_the_team_pages_show_the_residency_zone(client_for: ClientFor) -> None:
    client = client_for(Persona.DEVELOPER)
    team = team_of("student-experience")

    listing = client.get(TEAMS).content.decode()
    page = client.get(reverse("access:team", args=[team.pk])).content.decode()

    assert 'data-team-zone="EU">European Union (EU)' in listing
    assert 'data-team-zone="">' in listing  # core-platform: no constraint
    assert "Residency zone: <strong>European Union (EU)</strong>" in page


def test_a_team_that_does_not_exist_is_a_404(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).get(reverse("access:team", args=[999999]))

    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_the_overview_says_what_the_user_holds_in_words(client_for: ClientFor) -> None:
    page = client_for(Persona.DEVELOPER).get(reverse("access:overview")).content.decode()

    assert "You hold <strong>Developer</strong> on team Student Experience" in page
    assert "through team membership of Student Experience" in page
    assert "You hold <strong>Viewer</strong> on everything" in page
    assert reverse("access:teams") in page
    assert reverse("access:grants") not in page
