"""Managing webhook sources: who may, the secret shown once and never again, rotation and deactivation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse

from access.audit import services as audit
from access.models import AuditEvent, Role, Team, User
from access.permissions import BuiltinRole
from deployments.choices import CiProvider
from deployments.hooks import services as hooks
from deployments.hooks.payloads import azure_deploy_environment, github_signature, stage_kind
from deployments.hooks.services import normalise_repository
from deployments.models import Service, WebhookSource
from portal.demo import Persona
from tests.factories import GrantFactory

pytestmark = pytest.mark.shared_demo


def student_experience() -> Team:
    return Team.objects.get(slug="student-experience")


def ping(source_name: str, secret: str) -> int:
    body = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()
    response = Client().post(
        f"/hooks/{source_name}/",
        data=body,
        content_type="application/json",
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": github_signature(secret, body),
        },
    )
    return response.status_code


def log_text() -> str:
    return " ".join(
        str(part)
        for event in AuditEvent.objects.all()
        for part in (event.before, event.after, event.extra, event.object_repr)
    )


def test_a_developer_adds_a_source_for_their_team_and_its_secret_authenticates_deliveries(
    persona: Callable[[Persona], User],
) -> None:
    developer = persona(Persona.DEVELOPER)

    created = hooks.webhook_source_create(
        actor=developer, name="enrolment-github", provider=CiProvider.GITHUB, team=student_experience()
    )

    assert len(created.secret) >= 40
    assert ping("enrolment-github", created.secret) == 202
    assert ping("enrolment-github", "a-guess") == 401
    event = AuditEvent.objects.get(verb=audit.WEBHOOK_SOURCE_CREATED)
    assert event.actor == developer
    assert created.secret not in log_text()


def test_nobody_adds_a_source_for_a_team_they_do_not_change(persona: Callable[[Persona], User]) -> None:
    with pytest.raises(Http404):
        hooks.webhook_source_create(
            actor=persona(Persona.DEVELOPER),
            name="tutor-github",
            provider=CiProvider.GITHUB,
            team=Team.objects.get(slug="tutor-tools"),
        )
    with pytest.raises(PermissionDenied):
        hooks.webhook_source_create(
            actor=persona(Persona.MANAGER), name="any-github", provider=CiProvider.GITHUB, team=student_experience()
        )
    assert not WebhookSource.objects.filter(name__in=["tutor-github", "any-github"]).exists()


def test_a_source_name_must_be_usable_in_its_url(persona: Callable[[Persona], User]) -> None:
    with pytest.raises(ValidationError) as refused:
        hooks.webhook_source_create(
            actor=persona(Persona.DEVELOPER), name="my hook/1", provider=CiProvider.GITLAB, team=student_experience()
        )

    assert "name" in refused.value.message_dict


def test_rotating_a_secret_retires_the_old_one_at_once(persona: Callable[[Persona], User]) -> None:
    developer = persona(Persona.DEVELOPER)
    created = hooks.webhook_source_create(
        actor=developer, name="enrolment-github", provider=CiProvider.GITHUB, team=student_experience()
    )

    rotated = hooks.webhook_source_rotate(actor=developer, source_id=created.source.pk)

    assert rotated.secret != created.secret
    assert ping("enrolment-github", created.secret) == 401
    assert ping("enrolment-github", rotated.secret) == 202
    assert rotated.secret not in log_text()


def test_a_deactivated_source_is_refused_and_deactivating_it_again_changes_nothing(
    persona: Callable[[Persona], User],
) -> None:
    lead = persona(Persona.TEAM_LEAD)
    created = hooks.webhook_source_create(
        actor=lead, name="enrolment-gitlab", provider=CiProvider.GITLAB, team=student_experience()
    )

    hooks.webhook_source_deactivate(actor=lead, source_id=created.source.pk)
    hooks.webhook_source_deactivate(actor=lead, source_id=created.source.pk)

    assert ping("enrolment-gitlab", created.secret) == 404
    assert AuditEvent.objects.filter(verb=audit.WEBHOOK_SOURCE_DEACTIVATED).count() == 1


def test_the_page_shows_the_secret_once_with_the_url_to_paste(client_for: Callable[[Persona | None], Client]) -> None:
    client = client_for(Persona.DEVELOPER)
    team = student_experience()

    created = client.post(
        reverse("deployments:hook_create"),
        {"name": "enrolment-azure", "provider": CiProvider.AZURE_DEVOPS, "team": team.pk},
    )

    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    source = WebhookSource.objects.get(name="enrolment-azure")
    assert source.secret in created.content.decode()
    assert "http://testserver/hooks/enrolment-azure/" in created.content.decode()
    listed = client.get(reverse("deployments:hooks"))
    assert "enrolment-azure" in listed.content.decode()
    assert source.secret not in listed.content.decode()
    confirm = client.get(reverse("deployments:hook_rotate", kwargs={"pk": source.pk}))
    assert source.secret not in confirm.content.decode()


def test_the_page_keeps_a_refused_form_with_its_message(client_for: Callable[[Persona | None], Client]) -> None:
    response = client_for(Persona.DEVELOPER).post(
        reverse("deployments:hook_create"),
        {"name": "bad name", "provider": CiProvider.GITHUB, "team": student_experience().pk},
    )

    assert response.status_code == 200
    assert "letters, digits" in response.content.decode()
    assert not WebhookSource.objects.filter(name="bad name").exists()


def test_rotating_and_deactivating_through_the_pages(client_for: Callable[[Persona | None], Client]) -> None:
    client = client_for(Persona.TEAM_LEAD)
    client.post(
        reverse("deployments:hook_create"),
        {"name": "enrolment-github", "provider": CiProvider.GITHUB, "team": student_experience().pk},
    )
    source = WebhookSource.objects.get(name="enrolment-github")
    first = source.secret

    rotated = client.post(reverse("deployments:hook_rotate", kwargs={"pk": source.pk}))
    source.refresh_from_db()
    assert source.secret != first
    assert source.secret in rotated.content.decode()

    deactivated = client.post(reverse("deployments:hook_deactivate", kwargs={"pk": source.pk}))
    assert deactivated.status_code == 302
    source.refresh_from_db()
    assert not source.active


# --- reading names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (("build",), "build"),
        (("Compile",), "build"),
        (("unit-tests",), "build"),
        (("trivy",), "security"),
        (("snyk test",), "security"),
        (("SAST",), "security"),
        (("security-scan",), "security"),
        (("deploy-production",), "deploy"),
        (("release",), "deploy"),
        (("smoke-test",), "post_deploy"),
        (("post-deploy checks",), "post_deploy"),
        (("verify",), "post_deploy"),
        (("notify",), "other"),
        (("helm-upgrade", "deploy"), "deploy"),  # a GitLab job named after its tool, in the deploy stage
    ],
)
def test_a_stage_kind_is_read_from_its_name(names: tuple[str, ...], kind: str) -> None:
    assert stage_kind(*names) == kind


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/example-org/checkout",
        "https://github.com/Example-Org/checkout.git",
        "https://github.com/example-org/checkout/",
        "git@github.com:example-org/checkout.git",
        "ssh://git@github.com/example-org/checkout.git",
        "https://token@github.com/example-org/checkout",
    ],
)
def test_a_repository_is_the_same_however_it_is_spelt(url: str) -> None:
    assert normalise_repository(url) == "github.com/example-org/checkout"


def test_a_repository_on_another_host_or_path_is_another_repository() -> None:
    assert normalise_repository("https://gitlab.com/example-org/checkout") != normalise_repository(
        "https://github.com/example-org/checkout"
    )
    assert normalise_repository("https://github.com/example-org/checkout-ui") != normalise_repository(
        "https://github.com/example-org/checkout"
    )


@pytest.mark.parametrize(
    ("stage", "environment"),
    [("deploy_production", "production"), ("Deploy_Staging_EU", "staging-eu"), ("build", ""), ("deploy", "")],
)
def test_an_azure_deploy_stage_names_its_environment(stage: str, environment: str) -> None:
    assert azure_deploy_environment(stage) == environment


# --- the services a source writes to -----------------------------------------------------------------


def service(slug: str) -> Service:
    return Service.objects.get(slug=slug)


def a_student_experience_source(persona: Callable[[Persona], User]) -> WebhookSource:
    return hooks.webhook_source_create(
        actor=persona(Persona.DEVELOPER), name="enrolment-github", provider=CiProvider.GITHUB, team=student_experience()
    ).source


def test_a_platform_admin_lets_a_source_write_to_another_teams_service_and_it_is_audited(
    persona: Callable[[Persona], User],
) -> None:
    source = a_student_experience_source(persona)
    admin = persona(Persona.PLATFORM_ADMIN)

    hooks.webhook_source_services_set(
        actor=admin, source_id=source.pk, services=[service("student-portal"), service("class-scheduler")]
    )

    assert set(hooks.source_services(source)) == {service("student-portal"), service("class-scheduler")}
    event = AuditEvent.objects.get(verb=audit.WEBHOOK_SOURCE_SERVICES_SET)
    assert event.actor == admin
    assert (event.before, event.after) == ({"services": []}, {"services": ["class-scheduler", "student-portal"]})


def test_without_a_list_a_source_writes_to_its_teams_services_only(persona: Callable[[Persona], User]) -> None:
    source = a_student_experience_source(persona)

    assert set(hooks.source_services(source)) == set(Service.objects.filter(team=student_experience()))


def test_a_developer_narrows_their_sources_services_but_adds_no_other_teams(
    persona: Callable[[Persona], User],
) -> None:
    developer = persona(Persona.DEVELOPER)
    source = a_student_experience_source(persona)

    hooks.webhook_source_services_set(actor=developer, source_id=source.pk, services=[service("enrolment")])
    with pytest.raises(ValidationError) as unseen:
        hooks.webhook_source_services_set(
            actor=developer, source_id=source.pk, services=[service("enrolment"), service("class-scheduler")]
        )

    assert unseen.value.message_dict == {"services": ["No such service."]}
    assert list(hooks.source_services(source)) == [service("enrolment")]
    hooks.webhook_source_services_set(actor=developer, source_id=source.pk, services=[])
    assert set(hooks.source_services(source)) == set(Service.objects.filter(team=student_experience()))


def test_seeing_another_teams_service_is_not_enough_to_let_a_source_write_to_it(
    persona: Callable[[Persona], User],
) -> None:
    developer = persona(Persona.DEVELOPER)
    GrantFactory.create(role=Role.objects.get(slug=BuiltinRole.MANAGER), user=developer)  # sees every team's
    source = a_student_experience_source(persona)

    with pytest.raises(PermissionDenied, match=r"deployments\.change on Tutor Tools"):
        hooks.webhook_source_services_set(actor=developer, source_id=source.pk, services=[service("class-scheduler")])
    with pytest.raises(Http404):  # the manager sees the source but may not change it
        hooks.webhook_source_services_set(actor=persona(Persona.MANAGER), source_id=source.pk, services=[])

    assert not source.services.exists()
    assert not AuditEvent.objects.filter(verb=audit.WEBHOOK_SOURCE_SERVICES_SET).exists()


def test_the_default_service_stays_among_the_services_a_source_writes_to(persona: Callable[[Persona], User]) -> None:
    source = hooks.webhook_source_create(
        actor=persona(Persona.DEVELOPER),
        name="portal-github",
        provider=CiProvider.GITHUB,
        team=student_experience(),
        service=service("student-portal"),
    ).source

    with pytest.raises(ValidationError) as refused:
        hooks.webhook_source_services_set(
            actor=persona(Persona.PLATFORM_ADMIN), source_id=source.pk, services=[service("enrolment")]
        )

    assert "student portal" in refused.value.message_dict["services"][0].lower()
    assert not source.services.exists()


def test_a_source_takes_no_other_teams_service_as_its_default(persona: Callable[[Persona], User]) -> None:
    with pytest.raises(ValidationError) as refused:
        hooks.webhook_source_create(
            actor=persona(Persona.PLATFORM_ADMIN),
            name="enrolment-github",
            provider=CiProvider.GITHUB,
            team=student_experience(),
            service=service("class-scheduler"),
        )

    assert "service" in refused.value.message_dict
    assert not WebhookSource.objects.filter(name="enrolment-github").exists()


def test_the_services_page_offers_what_one_may_change_and_saves_the_list(
    persona: Callable[[Persona], User], client_for: Callable[[Persona | None], Client]
) -> None:
    source = a_student_experience_source(persona)
    url = reverse("deployments:hook_services", kwargs={"pk": source.pk})

    offered = client_for(Persona.DEVELOPER).get(url).content.decode()
    saved = client_for(Persona.PLATFORM_ADMIN).post(url, {"services": [service("class-scheduler").pk]})
    refused = client_for(Persona.DEVELOPER).post(url, {"services": [service("tutor-dashboard").pk]})

    assert "Student portal (Student Experience)" in offered
    assert "Class scheduler" not in offered
    assert saved.status_code == 302
    assert list(source.services.all()) == [service("class-scheduler")]
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert list(source.services.all()) == [service("class-scheduler")]
    listed = client_for(Persona.DEVELOPER).get(reverse("deployments:hooks")).content.decode()
    assert "Class scheduler" in listed
