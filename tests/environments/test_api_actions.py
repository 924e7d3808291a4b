"""An environment's actions by API, as its page has them (teardown, cancel, retry, extend): the service decides,
each refusal is a structured error, and with an Idempotency-Key a repeat answers what the first did and acts
once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from access.audit import services as audit
from access.models import AuditEvent, Team, User
from environments import services
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.api import idempotency
from portal.demo import Persona
from regions.models import Cluster
from workflows.models import Run, RunStatus

pytestmark = [pytest.mark.django_db]

ClientFor = Callable[[Persona | None], Client]


@pytest.fixture
def preview(demo: None, settings: Any, tmp_path: Path, persona: Callable[[Persona], User]) -> Environment:
    """The demo developer's preview environment, provisioning (no worker has begun it)."""
    settings.PORTAL_DATA_DIR = tmp_path
    return services.environment_request(
        actor=persona(Persona.DEVELOPER),
        team=Team.objects.get(slug="student-experience"),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        name="api-actions",
        size="S",
        ttl_hours=None,
    )


def post(client: Client, path: str, body: dict[str, Any] | None = None, key: str = "") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(path, body or {}, content_type="application/json", headers=headers)


def verbs(environment: Environment, verb: str) -> int:
    return AuditEvent.objects.filter(verb=verb, object_id=str(environment.pk)).count()


def test_a_cancel_sent_twice_with_its_key_acts_once_and_answers_the_same(
    preview: Environment, client_for: ClientFor
) -> None:
    developer = client_for(Persona.DEVELOPER)
    path = f"/api/environments/{preview.pk}/cancel/"

    first = post(developer, path, key="cancel-1")
    again = post(developer, path, key="cancel-1")
    without_key = post(developer, path)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["status"] == EnvironmentStatus.CANCELLED
    assert again["Idempotency-Replayed"] == "true"
    assert verbs(preview, audit.ENVIRONMENT_CANCELLED) == 1
    assert without_key.status_code == 400  # asked anew, without the key: refused in words
    assert "cannot be cancelled" in without_key.json()["error"]["fields"]["non_field_errors"][0]


def test_extend_checks_its_hours_and_a_key_reused_for_other_hours_is_refused(
    preview: Environment, client_for: ClientFor
) -> None:
    developer = client_for(Persona.DEVELOPER)
    path = f"/api/environments/{preview.pk}/extend/"
    expiry = preview.expires_at
    assert expiry is not None

    extended = post(developer, path, {"hours": 24}, key="extend-1")
    reused = post(developer, path, {"hours": 48}, key="extend-1")
    zero = post(developer, path, {"hours": 0})
    too_long = post(developer, path, {"hours": 480})

    assert extended.status_code == 200
    later = Environment.objects.get(pk=preview.pk).expires_at
    assert later is not None
    assert later > expiry
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "key_reused"
    assert zero.status_code == 400
    assert "hours" in zero.json()["error"]["fields"]
    assert too_long.status_code == 400
    assert "at most 72 hours" in too_long.json()["error"]["fields"]["hours"][0]
    assert verbs(preview, audit.ENVIRONMENT_EXTENDED) == 1


def test_a_key_whose_first_request_still_runs_answers_409(
    preview: Environment, client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    path = f"/api/environments/{preview.pk}/cancel/"
    developer = persona(Persona.DEVELOPER)
    slot = f"api:idempotency:{idempotency._digest(developer.pk, 'POST', path, 'busy')}"
    cache.add(slot, {"fingerprint": idempotency._digest({})}, 60)

    answer = post(client_for(Persona.DEVELOPER), path, key="busy")

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "in_progress"
    assert Environment.objects.get(pk=preview.pk).status == EnvironmentStatus.PROVISIONING


def test_teardown_and_retry_do_what_the_page_does(preview: Environment, client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)
    run = services.provisioning_run(preview)
    assert run is not None
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="boom")
    Environment.objects.filter(pk=preview.pk).update(status=EnvironmentStatus.FAILED)

    retried = post(developer, f"/api/environments/{preview.pk}/retry/")
    assert retried.status_code == 200
    assert retried.json()["status"] == EnvironmentStatus.PROVISIONING

    Environment.objects.filter(pk=preview.pk).update(status=EnvironmentStatus.READY)
    torn_down = post(developer, f"/api/environments/{preview.pk}/teardown/")
    again = post(developer, f"/api/environments/{preview.pk}/teardown/")
    assert torn_down.status_code == again.status_code == 200
    assert torn_down.json()["status"] == EnvironmentStatus.TORN_DOWN  # no step had begun: nothing to undo
    assert verbs(preview, audit.ENVIRONMENT_TEARDOWN) == 1


@pytest.mark.parametrize(("who", "status"), [(Persona.MANAGER, 403), (Persona.AUDITOR, 404), (None, 401)])
def test_who_may_not_change_it_is_refused_and_nothing_changes(
    preview: Environment, client_for: ClientFor, who: Persona | None, status: int
) -> None:
    answer = post(client_for(who), f"/api/environments/{preview.pk}/cancel/", key="refused")

    assert answer.status_code == status
    assert Environment.objects.get(pk=preview.pk).status == EnvironmentStatus.PROVISIONING


def request_body(**changes: Any) -> dict[str, Any]:
    cluster = Cluster.objects.get(name="eks-eu-west-1")
    return {"name": "checked", "team": "student-experience", "template": "preview", "cluster": cluster.pk, **changes}


def test_the_check_says_what_a_request_would_meet_and_cost_and_creates_nothing(
    demo: None, client_for: ClientFor
) -> None:
    developer = client_for(Persona.DEVELOPER)
    environments, events = Environment.objects.count(), AuditEvent.objects.count()

    preview = developer.post("/api/environments/check/", request_body(), content_type="application/json")
    production = developer.post(
        "/api/environments/check/", request_body(template="production", size="M"), content_type="application/json"
    )

    assert preview.status_code == 200
    assert preview.json()["outcome"] == "allowed"
    assert preview.json()["lines"]
    assert float(preview.json()["monthly_estimate"]) > 0
    assert production.status_code == 200
    assert production.json()["outcome"] == "needs_approval"
    assert production.json()["approver"] in ("team_lead", "platform_admin")
    assert production.json()["reasons"]
    assert (Environment.objects.count(), AuditEvent.objects.count()) == (environments, events)


def test_the_check_refuses_what_the_request_would_refuse(preview: Environment, client_for: ClientFor) -> None:
    taken = client_for(Persona.DEVELOPER).post(
        "/api/environments/check/", request_body(name=preview.name), content_type="application/json"
    )
    not_a_requester = client_for(Persona.MANAGER).post(
        "/api/environments/check/", request_body(), content_type="application/json"
    )

    assert taken.status_code == 400
    assert "already has an environment named" in taken.json()["error"]["fields"]["name"][0]
    assert not_a_requester.status_code == 403
