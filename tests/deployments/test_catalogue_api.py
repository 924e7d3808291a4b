"""The catalogue's API beyond reading it: claiming an unmatched workload, a workload's live Kubernetes view and its
pods' logs, and webhook sources (created, rotated, deactivated, their services set), each as its page allows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from access.audit import services as audit
from access.models import AuditEvent, Team
from deployments.hooks.payloads import github_signature
from deployments.models import Service, WebhookSource, Workload
from portal.demo import Persona
from tests.deployments.test_kubernetes_panel import CRASHING, HEALTHY, HOSTILE, MARKER, checkout  # noqa: F401
from tests.factories import make_workload

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]


def post(client: Client, path: str, body: Any = None, key: str = "") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(path, body or {}, content_type="application/json", headers=headers)


def problems(response: Any) -> dict[str, Any]:
    error = response.json()["error"]
    assert error["code"] == "invalid"
    fields: dict[str, Any] = error["fields"]
    return fields


# --- unmatched workloads and their claim ------------------------------------------------------------------


def test_the_unmatched_filter_lists_what_the_unmatched_page_lists(client_for: ClientFor) -> None:
    toolbox = Workload.objects.get(name="debug-toolbox")
    make_workload(
        cluster=toolbox.cluster, name="old-toolbox", team=toolbox.team, service=None, gone_at=toolbox.first_seen_at
    )

    listed = client_for(Persona.DEVELOPER).get("/api/workloads/", {"unmatched": "true"}).json()["results"]

    assert [row["name"] for row in listed] == ["debug-toolbox"]  # the gone one is not there to claim


def test_a_developer_claims_an_unmatched_workload_once_whatever_the_retries(client_for: ClientFor) -> None:
    toolbox = Workload.objects.get(name="debug-toolbox")
    path = f"/api/workloads/{toolbox.pk}/claim/"
    developer = client_for(Persona.DEVELOPER)

    first = post(developer, path, {"service": "student-portal"}, key="claim-1")
    again = post(developer, path, {"service": "student-portal"}, key="claim-1")

    assert first.status_code == 200, first.content
    assert first.json()["service"] == "student-portal"
    assert first.json()["service_match"] == "claimed"
    assert again.status_code == 200
    assert again.headers["Idempotency-Replayed"] == "true"
    toolbox.refresh_from_db()
    assert toolbox.service == Service.objects.get(slug="student-portal")
    assert AuditEvent.objects.filter(verb=audit.WORKLOAD_CLAIMED, object_id=str(toolbox.pk)).count() == 1
    # Without the key, claiming it again says why not, in words.
    repeated = post(developer, path, {"service": "student-portal"})
    assert repeated.status_code == 400
    assert "already belongs to Student portal" in str(problems(repeated))


def test_claiming_needs_a_service_one_may_change_and_says_so(client_for: ClientFor) -> None:
    toolbox = Workload.objects.get(name="debug-toolbox")
    path = f"/api/workloads/{toolbox.pk}/claim/"

    manager = post(client_for(Persona.MANAGER), path, {"service": "student-portal"})
    unknown = post(client_for(Persona.DEVELOPER), path, {"service": "no-such-service"})
    missing = post(client_for(Persona.DEVELOPER), path, {})
    auditor = post(client_for(Persona.AUDITOR), path, {"service": "student-portal"})

    assert manager.status_code == 403
    assert "may not change the service catalogue" in manager.json()["error"]["message"]
    assert unknown.status_code == 400
    assert problems(unknown) == {"service": ["There is no service by that name."]}
    assert missing.status_code == 400
    assert problems(missing)["service"] == ["This field is required."]
    assert auditor.status_code == 404  # the auditor sees no workload
    toolbox.refresh_from_db()
    assert toolbox.service is None


# --- a workload's live view and its logs ------------------------------------------------------------------


def test_the_kubernetes_view_gives_the_pods_the_least_healthy_first_and_their_events(
    client_for: ClientFor,
    checkout: Workload,  # noqa: F811
) -> None:
    answer = client_for(Persona.DEVELOPER).get(f"/api/workloads/{checkout.pk}/kubernetes/")

    assert answer.status_code == 200, answer.content
    assert "no-store" in answer["Cache-Control"]
    view = answer.json()
    assert [pod["name"] for pod in view["pods"]] == [CRASHING, HEALTHY]  # not the other workload's pod
    crashing = view["pods"][0]
    assert crashing["status"] == "CrashLoopBackOff"
    assert crashing["restarts"] == 10
    assert [container["name"] for container in crashing["containers"]] == ["checkout", "linkerd-proxy"]
    assert crashing["containers"][0]["has_previous"] is True
    assert view["selector"] == "app=checkout"
    assert [event["reason"] for event in view["events"]] == ["BackOff", "ScalingReplicaSet"]
    assert view["can_read_logs"] is True
    assert view["problem"] == ""
    # The manager sees the workload, not its logs; the auditor does not see it at all.
    assert client_for(Persona.MANAGER).get(f"/api/workloads/{checkout.pk}/kubernetes/").json()["can_read_logs"] is False
    assert client_for(Persona.AUDITOR).get(f"/api/workloads/{checkout.pk}/kubernetes/").status_code == 404


def test_a_developer_reads_a_containers_last_lines_and_the_read_is_audited_without_its_text(
    client_for: ClientFor,
    checkout: Workload,  # noqa: F811
) -> None:
    path = f"/api/workloads/{checkout.pk}/logs/"

    answer = client_for(Persona.DEVELOPER).get(path, {"pod": CRASHING, "container": "checkout", "tail": "2"})

    assert answer.status_code == 200, answer.content
    assert "no-store" in answer["Cache-Control"]
    body = answer.json()
    assert body["tail_lines"] == 2
    [log] = body["containers"]
    assert log["container"] == "checkout"
    assert MARKER in log["text"]
    assert HOSTILE in log["text"]  # the text as the cluster gave it: a client shows it as text
    assert "starting checkout" not in log["text"]  # only the last two lines
    event = AuditEvent.objects.get(verb=audit.WORKLOAD_LOGS_VIEWED, object_id=str(checkout.pk))
    assert event.extra["pod"] == CRASHING
    assert MARKER not in str(event.extra)


def test_logs_need_the_logs_permission_and_a_request_that_can_be_read(
    client_for: ClientFor,
    checkout: Workload,  # noqa: F811
) -> None:
    path = f"/api/workloads/{checkout.pk}/logs/"
    developer = client_for(Persona.DEVELOPER)

    manager = client_for(Persona.MANAGER).get(path, {"pod": CRASHING})
    no_pod = developer.get(path)
    too_many = developer.get(path, {"pod": CRASHING, "tail": "100000"})
    previous_of_what = developer.get(path, {"pod": CRASHING, "previous": "true"})
    another_pod = developer.get(path, {"pod": "other-0"})

    assert manager.status_code == 403
    assert no_pod.status_code == 400
    assert problems(no_pod) == {"pod": ["Name a pod of the workload (its pods are listed at /kubernetes/)."]}
    assert too_many.status_code == 400
    assert problems(too_many) == {"tail": ["Ask for 1 to 1000 lines."]}
    assert previous_of_what.status_code == 400
    assert problems(previous_of_what) == {"container": ["Name the container whose previous instance's log to read."]}
    # Another workload's pod is never read: the answer says why.
    assert another_pod.status_code == 200
    assert another_pod.json()["containers"] == []
    assert "is not a pod of Deployment checkout" in another_pod.json()["problem"]
    assert not AuditEvent.objects.filter(verb=audit.WORKLOAD_LOGS_VIEWED).exists()


# --- webhook sources ----------------------------------------------------------------------------------------


def test_a_developer_registers_a_source_and_sees_its_secret_once(client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)
    body = {"name": "exam-github", "provider": "github", "team": "student-experience", "service": "student-portal"}

    created = post(developer, "/api/webhook-sources/", body, key="source-1")
    replayed = post(developer, "/api/webhook-sources/", body, key="source-1")

    assert created.status_code == 201, created.content
    shown = created.json()
    source = WebhookSource.objects.get(name="exam-github")
    assert shown["secret"] == source.secret
    assert shown["url"].endswith("/hooks/exam-github/")
    assert shown["service"] == "student-portal"
    assert replayed.status_code == 201
    assert replayed.json()["id"] == shown["id"]
    assert replayed.json()["secret"] is None  # the secret is not kept to be shown twice
    assert WebhookSource.objects.filter(name="exam-github").count() == 1
    detail = developer.get(f"/api/webhook-sources/{source.pk}/").json()
    listed = developer.get("/api/webhook-sources/").json()["results"]
    assert "secret" not in detail
    assert all("secret" not in row for row in listed)
    # The secret works: the CI system's delivery signed with it is accepted.
    delivery = b'{"zen": "Keep it logically awesome."}'

    def deliver(secret: str) -> int:
        signed = {"X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": github_signature(secret, delivery)}
        headers = {"X-GitHub-Event": "ping", **signed}
        answer = Client().post("/hooks/exam-github/", delivery, content_type="application/json", headers=headers)
        return int(answer.status_code)

    assert deliver("a guess") == 401
    assert deliver(shown["secret"]) == 202  # authenticated, and a ping is not used


def test_rotating_deactivating_and_setting_services_as_the_pages_allow(client_for: ClientFor) -> None:
    source = WebhookSource.objects.create(
        name="exam-gitlab", provider="gitlab", team=Team.objects.get(slug="student-experience"), secret="old"
    )
    base = f"/api/webhook-sources/{source.pk}"
    developer = client_for(Persona.DEVELOPER)

    refused = post(client_for(Persona.MANAGER), f"{base}/rotate/")
    rotated = post(developer, f"{base}/rotate/")
    services = post(developer, f"{base}/services/", {"services": ["student-portal"]})
    wrong = post(developer, f"{base}/services/", {"services": ["no-such-service"]})
    deactivated = post(developer, f"{base}/deactivate/", key="off-1")
    twice = post(developer, f"{base}/deactivate/")

    assert refused.status_code == 403
    assert rotated.status_code == 200
    source.refresh_from_db()
    assert rotated.json()["secret"] == source.secret != "old"
    assert AuditEvent.objects.filter(verb=audit.WEBHOOK_SECRET_ROTATED, object_id=str(source.pk)).count() == 1
    assert services.status_code == 200
    assert services.json()["services"] == ["student-portal"]
    assert wrong.status_code == 400
    assert problems(wrong) == {"services": {"0": ["There is no service by that name."]}}
    assert deactivated.status_code == 200
    assert deactivated.json()["active"] is False
    assert "secret" not in deactivated.json()
    assert twice.status_code == 200
    assert AuditEvent.objects.filter(verb=audit.WEBHOOK_SOURCE_DEACTIVATED, object_id=str(source.pk)).count() == 1


def test_a_source_needs_a_team_one_may_change_and_a_name_fit_for_a_url(client_for: ClientFor) -> None:
    body = {"name": "exam-github", "provider": "github", "team": "student-experience"}

    manager = post(client_for(Persona.MANAGER), "/api/webhook-sources/", body)
    bad_name = post(client_for(Persona.DEVELOPER), "/api/webhook-sources/", {**body, "name": "exam github/1"})
    bad_provider = post(client_for(Persona.DEVELOPER), "/api/webhook-sources/", {**body, "provider": "jenkins"})
    other_team = post(client_for(Persona.DEVELOPER), "/api/webhook-sources/", {**body, "team": "core-platform"})

    assert manager.status_code == 403
    assert manager.json()["error"]["message"] == "You may not add webhook sources."
    assert problems(bad_name) == {"name": ["Use letters, digits, '.', '_' and '-' only (it is part of the URL)."]}
    assert problems(bad_provider) == {"provider": ["Choose github, gitlab or azure_devops."]}
    assert other_team.status_code == 403
    assert other_team.json()["error"]["message"] == "You may not add webhook sources to Core Platform."
    assert not WebhookSource.objects.filter(name="exam-github").exists()


def test_the_source_list_needs_no_query_per_source(client_for: ClientFor, django_assert_max_num_queries: Any) -> None:
    team = Team.objects.get(slug="student-experience")
    for number in range(8):
        WebhookSource.objects.create(name=f"ci-{number}", provider="github", team=team, secret="s")
    developer = client_for(Persona.DEVELOPER)
    developer.get("/api/webhook-sources/")  # the session and policy caches warm

    with django_assert_max_num_queries(12):
        listed = developer.get("/api/webhook-sources/").json()["results"]

    assert len(listed) >= 8
