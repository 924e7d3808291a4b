"""The API of rollbacks, freeze windows and DORA: idempotent asks, refusals as structured errors, scoping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from access.audit import services as audit
from access.models import AuditEvent, Grant, Role, Team, Tier, User
from access.permissions import BuiltinRole
from deployments.choices import DeploymentSource, DeploymentStatus
from deployments.models import Deployment, FreezeWindow, RollbackRequest
from portal.demo import Persona
from providers.sandbox.cluster import SandboxClusterDriver
from regions.models import Cluster
from tests.deployments.test_rollback import workload
from tests.factories import UserFactory, make_service
from tests.helpers import queries_for

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]


def ask(client: Client, body: dict[str, Any], key: str = "") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/rollbacks/", body, content_type="application/json", headers=headers)


def test_a_rollback_asked_twice_with_one_key_is_one_rollback(
    client_for: ClientFor, demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    developer = client_for(Persona.DEVELOPER)
    body = {"workload": row.pk, "to_revision": 1, "reason": "checkout 500s"}

    first = ask(developer, body, key="ci-7")
    second = ask(developer, body, key="ci-7")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["status"] == "running"
    assert first.json()["to_version"] == "1.3.0"
    assert RollbackRequest.objects.count() == 1
    listed = developer.get("/api/rollbacks/").json()
    assert [item["id"] for item in listed["results"]] == [first.json()["id"]]
    assert client_for(Persona.AUDITOR).get(f"/api/rollbacks/{first.json()['id']}/").status_code == 404


def test_refusals_are_structured_errors_with_the_reason(
    client_for: ClientFor, demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    developer = client_for(Persona.DEVELOPER)

    unknown = ask(developer, {"workload": row.pk, "to_revision": 9, "reason": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["fields"]["to_revision"] == ["Revision 9 is not one to go back to (offered: 1)."]

    assert row.environment is not None
    FreezeWindow.objects.create(
        environment=row.environment,
        starts_at=timezone.now() - timedelta(minutes=5),
        ends_at=timezone.now() + timedelta(hours=3),
        reason="exam week",
        created_by=persona(Persona.TEAM_LEAD),
    )
    frozen = ask(developer, {"workload": row.pk, "to_revision": 1, "reason": "x"})
    assert frozen.status_code == 400
    (message,) = frozen.json()["error"]["fields"]["non_field_errors"]
    assert "is frozen until" in message
    assert "exam week" in message
    refused = ask(client_for(Persona.MANAGER), {"workload": row.pk, "to_revision": 1, "reason": "x"})
    assert refused.status_code in {403, 404}
    assert not RollbackRequest.objects.exists()


def test_freeze_windows_are_created_listed_and_ended(
    client_for: ClientFor, demo_cluster: Cluster, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    assert row.environment is not None
    lead = client_for(Persona.TEAM_LEAD)
    now = timezone.now()

    backwards = lead.post(
        "/api/freeze-windows/",
        {"environment": row.environment.pk, "starts_at": now.isoformat(), "ends_at": now.isoformat(), "reason": "x"},
        content_type="application/json",
    )
    assert backwards.status_code == 400
    created = lead.post(
        "/api/freeze-windows/",
        {
            "environment": row.environment.pk,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(),
            "reason": "exam week",
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    window = created.json()["id"]
    assert [item["id"] for item in lead.get("/api/freeze-windows/?current=true").json()["results"]] == [window]

    assert client_for(Persona.MANAGER).post(f"/api/freeze-windows/{window}/end/").status_code == 403
    assert lead.post(f"/api/freeze-windows/{window}/end/").status_code == 200
    assert lead.get("/api/freeze-windows/?current=true").json()["results"] == []


def test_the_dora_metrics_as_json(client_for: ClientFor, persona: Any) -> None:
    service = make_service(slug="checkout", team=persona(Persona.DEVELOPER).memberships.get().team)
    started = timezone.now() - timedelta(days=1)
    Deployment.objects.create(
        service=service,
        team=service.team,
        tier=Tier.PRODUCTION,
        version="2.0",
        status=DeploymentStatus.SUCCEEDED,
        source=DeploymentSource.PIPELINE,
        started_at=started,
        finished_at=started + timedelta(minutes=5),
        commit_at=started - timedelta(hours=2),
    )

    answer = client_for(Persona.DEVELOPER).get("/api/dora/", {"service": "checkout", "days": "7"})

    assert answer.status_code == 200
    metrics = answer.json()
    assert metrics["deployments"] == 1
    assert metrics["lead_time_seconds"] == 2 * 3600 + 5 * 60
    assert metrics["change_failure_rate"] == 0
    assert len(metrics["daily"]) == 7
    assert client_for(Persona.DEVELOPER).get("/api/dora/", {"days": "0"}).status_code == 400


def freeze_body(environment_id: int, **changes: Any) -> dict[str, Any]:
    now = timezone.now()
    return {
        "environment": environment_id,
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
        "reason": "exam week",
        **changes,
    }


def test_a_freeze_says_where_whose_whether_in_force_and_whether_you_may_end_it(
    client_for: ClientFor, demo_cluster: Cluster, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    assert row.environment is not None
    created = client_for(Persona.TEAM_LEAD).post(
        "/api/freeze-windows/", freeze_body(row.environment.pk), content_type="application/json"
    )
    assert created.status_code == 201, created.json()

    as_lead = client_for(Persona.TEAM_LEAD).get("/api/freeze-windows/").json()["results"]
    as_manager = client_for(Persona.MANAGER).get("/api/freeze-windows/").json()["results"]

    (window,) = as_lead
    assert window["environment_name"] == row.environment.name
    assert window["team"] == row.environment.team.slug
    assert window["in_force"] is True
    assert window["can_end"] is True
    assert [item["can_end"] for item in as_manager] == [False]  # the manager sees it and may not end it


def test_a_freeze_ended_twice_with_its_key_ends_once_and_answers_the_same(
    client_for: ClientFor, demo_cluster: Cluster, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    assert row.environment is not None
    lead = client_for(Persona.TEAM_LEAD)
    body = freeze_body(row.environment.pk)
    created = lead.post("/api/freeze-windows/", body, content_type="application/json", headers={"Idempotency-Key": "f"})
    repeated = lead.post(
        "/api/freeze-windows/", body, content_type="application/json", headers={"Idempotency-Key": "f"}
    )
    window = created.json()["id"]

    ended = lead.post(f"/api/freeze-windows/{window}/end/", headers={"Idempotency-Key": "end-1"})
    again = lead.post(f"/api/freeze-windows/{window}/end/", headers={"Idempotency-Key": "end-1"})

    assert (created.status_code, repeated.status_code) == (201, 201)
    assert repeated["Idempotency-Replayed"] == "true"
    assert FreezeWindow.objects.count() == 1
    assert ended.status_code == again.status_code == 200
    assert ended.json() == again.json()
    assert ended.json()["in_force"] is False
    assert AuditEvent.objects.filter(verb=audit.FREEZE_CREATED).count() == 1
    assert AuditEvent.objects.filter(verb=audit.FREEZE_ENDED).count() == 1


def test_a_freeze_not_begun_is_removed_and_answered_by_its_id(
    client_for: ClientFor, demo_cluster: Cluster, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    assert row.environment is not None
    lead = client_for(Persona.TEAM_LEAD)
    later = timezone.now() + timedelta(days=2)
    body = freeze_body(
        row.environment.pk, starts_at=later.isoformat(), ends_at=(later + timedelta(hours=1)).isoformat()
    )
    window = lead.post("/api/freeze-windows/", body, content_type="application/json").json()["id"]

    removed = lead.post(f"/api/freeze-windows/{window}/end/")

    assert removed.status_code == 200
    assert removed.json()["id"] == window
    assert not FreezeWindow.objects.filter(pk=window).exists()


def test_an_environment_one_cannot_see_is_not_found_when_freezing_and_nothing_is_frozen(
    client_for: ClientFor, demo_cluster: Cluster, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    assert row.environment is not None

    nobody_to_freeze = client_for(Persona.AUDITOR).post(
        "/api/freeze-windows/", freeze_body(row.environment.pk), content_type="application/json"
    )
    outsider: User = UserFactory.create(username="tutor-tools-developer")
    Grant.objects.create(
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER), user=outsider, team=Team.objects.get(slug="tutor-tools")
    )
    other_team = Client()
    other_team.force_login(outsider)
    unseen = other_team.post("/api/freeze-windows/", freeze_body(row.environment.pk), content_type="application/json")
    backwards = client_for(Persona.TEAM_LEAD).post(
        "/api/freeze-windows/",
        freeze_body(row.environment.pk, ends_at=(timezone.now() - timedelta(hours=1)).isoformat()),
        content_type="application/json",
    )

    assert nobody_to_freeze.status_code == 403
    assert unseen.status_code == 400
    assert "environment" in unseen.json()["error"]["fields"]
    assert backwards.status_code == 400
    assert backwards.json()["error"]["fields"]["ends_at"] == ["A freeze must end after it starts."]
    assert not FreezeWindow.objects.exists()


def test_the_rollback_form_by_api_offers_the_revisions_to_go_back_to_and_what_stands_in_the_way(
    client_for: ClientFor, demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    assert row.environment is not None
    FreezeWindow.objects.create(
        environment=row.environment,
        starts_at=timezone.now() - timedelta(minutes=5),
        ends_at=timezone.now() + timedelta(hours=3),
        reason="exam week",
        created_by=persona(Persona.TEAM_LEAD),
    )
    path = "/api/rollbacks/options/"

    offered = client_for(Persona.DEVELOPER).get(path, {"workload": row.pk})
    manager = client_for(Persona.MANAGER).get(path, {"workload": row.pk})
    auditor = client_for(Persona.AUDITOR).get(path, {"workload": row.pk})
    missing = client_for(Persona.DEVELOPER).get(path, {"workload": 999999999})
    malformed = client_for(Persona.DEVELOPER).get(path, {"workload": "checkout"})

    assert offered.status_code == 200, offered.json()
    body = offered.json()
    assert [(item["revision"], item["version"]) for item in body["revisions"]] == [(1, "1.3.0")]
    assert body["freeze"]["reason"] == "exam week"
    assert (body["needs_approval"], body["argocd_notice"]) == (False, "")
    assert manager.status_code == 403  # sees the workload, may not roll it back
    assert auditor.status_code == missing.status_code == 404
    assert malformed.status_code == 400
    assert "workload" in malformed.json()["error"]["fields"]


def test_a_rollback_by_api_says_where_it_runs_and_which_run_and_approval_are_its(
    client_for: ClientFor, demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any, settings: Any
) -> None:
    settings.DEPLOYMENTS_PRODUCTION_ROLLBACK_APPROVAL = True
    staging = workload(demo_cluster, persona(Persona.DEVELOPER))
    developer = client_for(Persona.DEVELOPER)

    started = ask(developer, {"workload": staging.pk, "to_revision": 1, "reason": "checkout 500s"})
    listed = developer.get("/api/rollbacks/").json()["results"]
    run = developer.get(f"/api/workflow-runs/{started.json()['run']}/")

    assert started.status_code == 201
    body = started.json()
    assert body["workload"]["region"] == "eu-west-1"
    assert staging.environment is not None
    assert body["workload"]["environment"] == {"id": staging.environment.pk, "name": staging.environment.name}
    assert (body["approval"], body["approval_status"]) == (None, None)
    assert listed[0] == body | {"updated_at": listed[0]["updated_at"]}
    assert run.status_code == 200
    assert (run.json()["subject_type"], run.json()["subject_id"]) == ("rollback", body["id"])


def test_a_production_rollback_by_api_names_the_approval_it_waits_for(
    client_for: ClientFor, demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any, settings: Any
) -> None:
    settings.DEPLOYMENTS_PRODUCTION_ROLLBACK_APPROVAL = True
    production = workload(demo_cluster, persona(Persona.DEVELOPER), tier=Tier.PRODUCTION)

    held = ask(client_for(Persona.DEVELOPER), {"workload": production.pk, "to_revision": 1, "reason": "500s"})

    assert held.status_code == 201, held.json()
    assert held.json()["status"] == "pending_approval"
    assert held.json()["approval_status"] == "pending"
    assert held.json()["run"] is None
    assert client_for(Persona.TEAM_LEAD).get(f"/api/approvals/{held.json()['approval']}/").status_code == 200


def test_the_rollback_list_costs_the_same_queries_for_one_rollback_or_many(
    client_for: ClientFor, demo_cluster: Cluster, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    developer = client_for(Persona.DEVELOPER)

    def add(count: int) -> None:
        for _ in range(count):
            RollbackRequest.objects.create(
                workload=row, to_revision=1, reason="x", requested_by=persona(Persona.DEVELOPER), status="failed"
            )

    add(1)
    developer.get("/api/rollbacks/")
    one = queries_for(developer, "/api/rollbacks/")
    add(5)
    many = queries_for(developer, "/api/rollbacks/")

    assert len(developer.get("/api/rollbacks/").json()["results"]) == 6
    assert many == one
