"""The service catalogue: create, edit and delete services, claim unmatched workloads; refusals say why; all audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent, Team, User
from deployments import catalogue
from deployments.choices import ServiceMatch
from deployments.models import Deployment, Service, Workload
from portal.demo import Persona

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
CREATE = reverse("deployments:service_create")


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


def team(slug: str = "student-experience") -> Team:
    return Team.objects.get(slug=slug)


def form(**changes: Any) -> dict[str, Any]:
    return {
        "slug": "checkout",
        "name": "Checkout",
        "team": team().pk,
        "namespace_group": "student-services",
        "description": "Takes payments.",
        "repository_url": "https://github.com/example-lms/checkout",
        "links": "Dashboard | https://grafana.example.com/d/checkout\nRunbook | https://wiki.example.com/checkout",
        **changes,
    }


def events(verb: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(verb=verb))


def test_a_developer_adds_a_service_for_their_team(developer: Client) -> None:
    response = developer.post(CREATE, form())

    assert response.status_code == 302
    service = Service.objects.get(slug="checkout")
    assert response.headers["Location"] == reverse("deployments:service", args=["checkout"])
    assert service.team == team()
    assert service.links == [
        {"label": "Dashboard", "url": "https://grafana.example.com/d/checkout"},
        {"label": "Runbook", "url": "https://wiki.example.com/checkout"},
    ]
    (event,) = events("deployments.service_created")
    assert event.actor == User.objects.get(username="developer")
    assert (event.after or {})["slug"] == "checkout"


def test_a_link_that_is_no_url_is_refused_on_the_form_and_the_input_is_kept(developer: Client) -> None:
    response = developer.post(CREATE, form(links="Dashboard | grafana dot example"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "is not an http(s) URL" in html
    assert "grafana dot example" in html
    assert not Service.objects.filter(slug="checkout").exists()


def test_a_link_line_without_a_bar_is_refused_with_the_format(developer: Client) -> None:
    html = developer.post(CREATE, form(links="https://grafana.example.com")).content.decode()

    assert "write it as Label | URL" in html


def test_a_slug_already_taken_is_refused(developer: Client) -> None:
    html = developer.post(CREATE, form(slug="student-portal")).content.decode()

    assert "already exists" in html


def test_a_developer_may_not_add_a_service_for_another_team(developer: Client) -> None:
    response = developer.post(CREATE, form(team=team("tutor-tools").pk))

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    with pytest.raises(PermissionDenied, match="You may not change services of Tutor Tools"):
        catalogue.service_create(
            actor=User.objects.get(username="developer"),
            slug="timetable",
            name="Timetable",
            team=team("tutor-tools"),
            namespace_group="tutor-services",
        )
    assert not events("deployments.service_created")


def test_a_manager_may_read_the_catalogue_but_not_add_to_it(client_for: ClientFor) -> None:
    manager = client_for(Persona.MANAGER)

    assert manager.get(reverse("deployments:services")).status_code == 200
    assert manager.get(CREATE).status_code == 403
    assert manager.get(reverse("deployments:service_edit", args=["student-portal"])).status_code == 403


def test_a_developer_edits_their_teams_service_and_the_change_is_audited(developer: Client) -> None:
    url = reverse("deployments:service_edit", args=["student-portal"])
    data = developer.get(url).context["form"].initial
    data = {**data, "links": "Status | https://status.example.com", "name": "Student portal (web)"}

    response = developer.post(url, data)

    assert response.status_code == 302
    service = Service.objects.get(slug="student-portal")
    assert service.name == "Student portal (web)"
    assert service.links == [{"label": "Status", "url": "https://status.example.com"}]
    (event,) = events("deployments.service_changed")
    assert (event.before or {})["name"] == "Student portal"
    assert (event.after or {})["name"] == "Student portal (web)"


def test_another_teams_service_is_a_404_to_edit(developer: Client) -> None:
    assert developer.get(reverse("deployments:service_edit", args=["api-gateway"])).status_code == 404


def test_moving_a_service_to_a_team_one_may_not_change_is_refused(persona: Callable[[Persona], User]) -> None:
    service = Service.objects.get(slug="student-portal")

    with pytest.raises(PermissionDenied):
        catalogue.service_update(actor=persona(Persona.DEVELOPER), service_id=service.pk, team=team("tutor-tools"))

    service.refresh_from_db()
    assert service.team == team()


def test_moving_a_service_moves_its_workloads_and_deployments_team(persona: Callable[[Persona], User]) -> None:
    service = Service.objects.get(slug="student-portal")

    catalogue.service_update(actor=persona(Persona.PLATFORM_ADMIN), service_id=service.pk, team=team("tutor-tools"))

    assert set(Workload.objects.filter(service=service).values_list("team__slug", flat=True)) == {"tutor-tools"}
    assert set(Deployment.objects.filter(service=service).values_list("team__slug", flat=True)) == {"tutor-tools"}


def test_deleting_a_service_keeps_its_workloads_and_deployments_and_says_so(developer: Client) -> None:
    service = Service.objects.get(slug="enrolment")
    workloads = set(Workload.objects.filter(service=service).values_list("pk", flat=True))
    deployments = set(Deployment.objects.filter(service=service).values_list("pk", flat=True))
    url = reverse("deployments:service_delete", args=["enrolment"])

    assert "are <strong>kept</strong>" in developer.get(url).content.decode()
    response = developer.post(url, follow=True)

    assert not Service.objects.filter(slug="enrolment").exists()
    assert set(Workload.objects.filter(pk__in=workloads, service=None).values_list("pk", flat=True)) == workloads
    assert set(Deployment.objects.filter(pk__in=deployments, service=None).values_list("pk", flat=True)) == deployments
    assert f"Its {len(workloads)} workloads and its deployments are kept" in response.content.decode()
    (event,) = events("deployments.service_deleted")
    assert (event.object_type, event.object_id) == ("deployments.service", str(service.pk))


# --- unmatched workloads ------------------------------------------------------------------------


def test_the_unmatched_page_lists_present_workloads_of_no_service_by_cluster_and_namespace(developer: Client) -> None:
    url = reverse("deployments:unmatched")

    html = developer.get(url).content.decode()
    by_namespace = developer.get(url, {"namespace": "core-services"}).content.decode()

    assert "debug-toolbox" in html
    assert "legacy-invoice-export" not in html  # Admin Apps' namespace: not the developer's
    assert "debug-toolbox" not in by_namespace
    Workload.objects.filter(name="debug-toolbox").update(gone_at="2026-01-01T00:00:00Z")
    assert "debug-toolbox" not in developer.get(url).content.decode()


def test_a_developer_claims_a_workload_for_their_service(developer: Client) -> None:
    workload = Workload.objects.get(name="debug-toolbox")
    service = Service.objects.get(slug="student-portal")

    response = developer.post(reverse("deployments:workload_claim", args=[workload.pk]), {"service": service.pk})

    assert response.status_code == 302
    workload.refresh_from_db()
    assert workload.service == service
    assert workload.service_match == ServiceMatch.CLAIMED
    assert workload.team == service.team
    (event,) = events("deployments.workload_claimed")
    assert (event.after or {})["service_match"] == "claimed"


def test_claiming_for_another_teams_service_is_refused(persona: Callable[[Persona], User]) -> None:
    workload = Workload.objects.get(name="debug-toolbox")

    with pytest.raises(Http404):
        catalogue.workload_claim(
            actor=persona(Persona.DEVELOPER),
            workload_id=workload.pk,
            service_id=Service.objects.get(slug="api-gateway").pk,
        )
    workload.refresh_from_db()
    assert workload.service is None


def test_a_workload_that_already_has_a_service_cannot_be_claimed(persona: Callable[[Persona], User]) -> None:
    workload = Workload.objects.filter(service__slug="enrolment").first()
    assert workload is not None

    with pytest.raises(ValidationError, match="already belongs to Enrolment"):
        catalogue.workload_claim(
            actor=persona(Persona.DEVELOPER),
            workload_id=workload.pk,
            service_id=Service.objects.get(slug="student-portal").pk,
        )


def test_a_claim_refused_on_the_page_says_why(developer: Client) -> None:
    workload = Workload.objects.get(name="debug-toolbox")
    Workload.objects.filter(pk=workload.pk).update(gone_at="2026-01-01T00:00:00Z")

    response = developer.post(
        reverse("deployments:workload_claim", args=[workload.pk]),
        {"service": Service.objects.get(slug="student-portal").pk},
    )

    assert response.status_code == 200
    assert "is gone from its cluster" in response.content.decode()


def test_a_manager_may_not_claim(client_for: ClientFor) -> None:
    workload = Workload.objects.get(name="debug-toolbox")

    assert client_for(Persona.MANAGER).get(reverse("deployments:workload_claim", args=[workload.pk])).status_code == 403
