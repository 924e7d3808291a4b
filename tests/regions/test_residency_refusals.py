"""Residency refusals say why, in the service, on the page and in the API: a region that is not active, a
degraded one (allowed, with a warning), and a team bound to a zone its live environments are not in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from access import services as access_services
from access.admin import TeamAdminForm
from access.audit import services as audit
from access.models import AuditEvent, Team, User
from environments import services
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona
from regions.choices import RegionStatus
from regions.models import Cluster, Region
from workflows.models import Run, RunStatus

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
RETIRED = (
    "eu-central-1 is retired: nothing new is placed there. Choose a region in EU: eu-west-1, northeurope or westeurope."
)
BEING_BUILT = (
    "eu-central-1 is still being built; nothing is placed there until it is active. "
    "Choose a region in EU: eu-west-1, northeurope or westeurope."
)
DEGRADED = (
    "eu-west-1 is degraded: provisioning may be slow or fail, and what runs there may be affected; "
    "its DR partner eu-central-1 is another choice."
)


@pytest.fixture(autouse=True)
def sandbox(demo: None, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path  # a sandbox cloud and cluster of this test's own


def team(slug: str = "student-experience") -> Team:
    return Team.objects.get(slug=slug)


def cluster(name: str) -> Cluster:
    return Cluster.objects.select_related("region").get(name=name)


def set_status(code: str, status: str) -> None:
    Region.objects.filter(code=code).update(status=status)


def request(actor: User, cluster_name: str, name: str = "checkout-preview") -> Environment:
    return services.environment_request(
        actor=actor,
        team=team(),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        cluster=cluster(cluster_name),
        name=name,
    )


def form(cluster_name: str) -> dict[str, Any]:
    return {
        "name": "checkout-preview",
        "team": team().pk,
        "template": EnvironmentTemplate.objects.get(slug="preview").pk,
        "cluster": cluster(cluster_name).pk,
        "size": "S",
        "ttl_hours": "",
        "idempotency_key": "form-1",
    }


# --- a region that is not active ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"), [(RegionStatus.RETIRED, RETIRED), (RegionStatus.PROVISIONING, BEING_BUILT)]
)
def test_the_service_refuses_a_region_that_is_not_active_saying_why_and_saves_nothing(
    persona: Callable[[Persona], User], status: str, message: str
) -> None:
    set_status("eu-central-1", status)
    before = Environment.objects.count()

    with pytest.raises(ValidationError) as refused:
        request(persona(Persona.DEVELOPER), "eks-eu-central-1")

    assert refused.value.messages == [message]
    assert Environment.objects.count() == before
    assert AuditEvent.objects.get(verb=audit.ENVIRONMENT_REFUSED).extra["reasons"] == [message]


def test_the_request_page_shows_why_a_retired_region_is_refused_and_keeps_the_input(client_for: ClientFor) -> None:
    set_status("eu-central-1", RegionStatus.RETIRED)
    before = Environment.objects.count()

    response = client_for(Persona.DEVELOPER).post(reverse("environments:request"), form("eks-eu-central-1"))

    page = response.content.decode()
    assert response.status_code == 200
    assert escape(RETIRED) in page
    assert 'value="checkout-preview"' in page
    assert Environment.objects.count() == before


def test_the_request_form_offers_a_retired_region_labelled_as_retired(client_for: ClientFor) -> None:
    set_status("eu-central-1", RegionStatus.RETIRED)

    page = client_for(Persona.DEVELOPER).get(reverse("environments:request")).content.decode()

    assert "eu-central-1 (AWS, EU, retired) · eks-eu-central-1" in page
    assert "eu-west-1 (AWS, EU) · eks-eu-west-1" in page


def test_the_live_check_explains_a_region_still_being_built(client_for: ClientFor) -> None:
    set_status("eu-central-1", RegionStatus.PROVISIONING)

    page = (
        client_for(Persona.DEVELOPER)
        .post(reverse("environments:request_check"), form("eks-eu-central-1"), HTTP_HX_REQUEST="true")
        .content.decode()
    )

    assert 'data-check="refused"' in page
    assert escape(BEING_BUILT) in page


def test_the_api_refuses_a_retired_region_with_a_structured_400_and_the_reason(client_for: ClientFor) -> None:
    set_status("eu-central-1", RegionStatus.RETIRED)
    body = {
        "name": "api-preview",
        "team": "student-experience",
        "template": "preview",
        "cluster": cluster("eks-eu-central-1").pk,
        "size": "S",
    }

    response = client_for(Persona.DEVELOPER).post("/api/environments/", body, content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["fields"]) == ("invalid", {"non_field_errors": [RETIRED]})


def test_approving_a_request_whose_region_was_retired_meanwhile_is_refused_with_why(
    persona: Callable[[Persona], User],
) -> None:
    from approvals import services as approvals
    from approvals.models import ApprovalRequest

    staging = EnvironmentTemplate.objects.get(slug="staging")  # needs the team lead's approval
    environment = services.environment_request(
        actor=persona(Persona.DEVELOPER), team=team(), template=staging, cluster=cluster("eks-eu-central-1"), name="s"
    )
    assert environment.status == EnvironmentStatus.PENDING_APPROVAL
    set_status("eu-central-1", RegionStatus.RETIRED)
    approval = ApprovalRequest.objects.get(subject_id=str(environment.pk))

    with pytest.raises(ValidationError) as refused:
        approvals.decide(approval.pk, approver=persona(Persona.TEAM_LEAD), approve=True)

    assert refused.value.messages == [
        "It cannot be provisioned: eu-central-1 is retired: nothing new is placed there. "
        "Reject it; the requester asks again elsewhere."
    ]
    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.PENDING_APPROVAL


def test_retrying_a_failed_provisioning_in_a_region_retired_meanwhile_is_refused_with_why(
    persona: Callable[[Persona], User],
) -> None:
    developer = persona(Persona.DEVELOPER)
    environment = request(developer, "eks-eu-central-1")
    run = services.provisioning_run(environment)
    assert run is not None
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="boom")
    Environment.objects.filter(pk=environment.pk).update(status=EnvironmentStatus.FAILED)
    set_status("eu-central-1", RegionStatus.RETIRED)

    with pytest.raises(ValidationError) as refused:
        services.environment_retry(actor=developer, environment_id=environment.pk)

    assert refused.value.messages == [
        "Provisioning cannot be retried: eu-central-1 is retired: nothing new is placed there. Tear it down instead."
    ]
    assert Run.objects.get(pk=run.pk).status == RunStatus.FAILED
    services.environment_teardown(actor=developer, environment_id=environment.pk)  # what it says to do works


# --- a degraded region: allowed, with a warning --------------------------------------------------------------------


def test_a_degraded_region_is_allowed_and_the_warning_is_audited(persona: Callable[[Persona], User]) -> None:
    set_status("eu-west-1", RegionStatus.DEGRADED)

    environment = request(persona(Persona.DEVELOPER), "eks-eu-west-1")

    assert environment.status == EnvironmentStatus.PROVISIONING
    assert AuditEvent.objects.get(verb=audit.ENVIRONMENT_REQUESTED).extra["warnings"] == [DEGRADED]


def test_the_live_check_warns_about_a_degraded_region_and_still_allows_it(client_for: ClientFor) -> None:
    set_status("eu-west-1", RegionStatus.DEGRADED)

    page = (
        client_for(Persona.DEVELOPER)
        .post(reverse("environments:request_check"), form("eks-eu-west-1"), HTTP_HX_REQUEST="true")
        .content.decode()
    )

    assert 'data-check="warnings"' in page
    assert escape(DEGRADED) in page
    assert 'data-check="allowed"' in page


# --- binding a team to a zone its live environments are not in -------------------------------------------------------


def stray_environment(persona: Callable[[Persona], User], name: str = "us-preview") -> Environment:
    Team.objects.filter(pk=team().pk).update(residency_zone="")
    return request(persona(Persona.DEVELOPER), "eks-us-east-1", name=name)


STRANDED = (
    "Student Experience has 1 environment outside EU: us-preview (us-east-1, US). The portal cannot move an "
    "environment: tear it down first, then bind the team to EU."
)


def test_the_team_page_refuses_the_zone_and_lists_the_environments_outside_it(
    client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    stray_environment(persona)

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:team_edit", args=[team().pk]), {"name": "Student Experience", "residency_zone": "EU"}
    )

    assert response.status_code == 200
    assert escape(STRANDED) in response.content.decode()
    assert team().residency_zone == ""


def test_the_refusal_counts_every_environment_outside_the_zone(persona: Callable[[Persona], User]) -> None:
    stray_environment(persona, "us-one")
    request(persona(Persona.DEVELOPER), "eks-ap-southeast-2", name="au-two")

    with pytest.raises(ValidationError) as refused:
        access_services.team_update(
            actor=persona(Persona.PLATFORM_ADMIN), team_id=team().pk, name=team().name, residency_zone="EU"
        )

    assert refused.value.message_dict["residency_zone"] == [
        "Student Experience has 2 environments outside EU: au-two (ap-southeast-2, AU), us-one (us-east-1, US). "
        "The portal cannot move an environment: tear them down first, then bind the team to EU."
    ]


def test_binding_to_the_zone_the_environments_are_in_is_allowed(persona: Callable[[Persona], User]) -> None:
    stray_environment(persona)

    access_services.team_update(
        actor=persona(Persona.PLATFORM_ADMIN), team_id=team().pk, name=team().name, residency_zone="US"
    )

    assert team().residency_zone == "US"


def test_the_django_admin_refuses_the_same_zone_change(persona: Callable[[Persona], User]) -> None:
    stray_environment(persona)
    current = team()

    form = TeamAdminForm(
        {"name": current.name, "slug": current.slug, "description": "", "residency_zone": "EU"}, instance=current
    )

    assert not form.is_valid()
    assert form.errors["residency_zone"] == [STRANDED]


def test_lifting_a_zone_is_never_refused(persona: Callable[[Persona], User]) -> None:
    access_services.team_update(
        actor=persona(Persona.PLATFORM_ADMIN), team_id=team().pk, name=team().name, residency_zone=""
    )

    assert team().residency_zone == ""
