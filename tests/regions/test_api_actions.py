"""A region request's and a failover's actions by API, as their pages have them (cancel, retry, roll back): the
service decides, each refusal is a structured error in words, and with an Idempotency-Key a repeat answers what
the first did and acts once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from access.audit import services as audit
from access.models import AuditEvent
from approvals.models import ApprovalRequest, ApprovalStatus
from portal.demo import Persona
from regions import services
from regions.choices import FailoverStatus, RegionRequestStatus
from regions.failover import services as failovers
from regions.models import FailoverRequest, Region, RegionRequest
from tests.regions.test_region_build import approve, request_region
from tests.regions.test_region_failover import approve_failover, ask, registered_with_a_replica
from workflows.models import Run, RunStatus

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]


@pytest.fixture
def sandbox(demo: None, settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path  # a sandbox of this test's own
    return tmp_path


def post(client: Client, path: str, key: str = "") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(path, {}, content_type="application/json", headers=headers)


def events(subject: RegionRequest | FailoverRequest, verb: str) -> int:
    return AuditEvent.objects.filter(verb=verb, object_id=str(subject.pk)).count()


def failed_build(request: RegionRequest) -> Run:
    """The request approved, its build-out failed (as a worker leaves it when a step fails for good)."""
    run = services.build_run(approve(request))
    assert run is not None
    run.steps.filter(position=1).update(status="failed", started_at=timezone.now(), error="The cloud refused it.")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="The cloud refused the cache.")
    RegionRequest.objects.filter(pk=request.pk).update(status=RegionRequestStatus.FAILED)
    return run


# --- region requests -------------------------------------------------------------------------------------------


def test_an_admin_cancels_a_waiting_region_request_once_per_key(sandbox: Path, client_for: ClientFor) -> None:
    request = request_region()
    admin = client_for(Persona.PLATFORM_ADMIN)
    path = f"/api/region-requests/{request.pk}/cancel/"

    first = post(admin, path, key="cancel-1")
    again = post(admin, path, key="cancel-1")
    without_key = post(admin, path)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["status"] == RegionRequestStatus.CANCELLED
    assert again["Idempotency-Replayed"] == "true"
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.CANCELLED
    assert ApprovalRequest.objects.get(subject_id=str(request.pk), purpose=services.BUILD).status == (
        ApprovalStatus.WITHDRAWN
    )
    assert events(request, audit.REGION_REQUEST_CANCELLED) == 1
    assert without_key.status_code == 400  # asked anew: a cancelled request cannot be cancelled, in words
    assert "cannot be cancelled" in without_key.json()["error"]["fields"]["non_field_errors"][0]


def test_an_admin_retries_a_failed_build_by_api(sandbox: Path, client_for: ClientFor) -> None:
    request = request_region()
    run = failed_build(request)

    answer = post(client_for(Persona.PLATFORM_ADMIN), f"/api/region-requests/{request.pk}/retry/")

    assert answer.status_code == 200
    assert answer.json()["status"] == RegionRequestStatus.BUILDING
    assert Run.objects.get(pk=run.pk).status != RunStatus.FAILED
    assert events(request, audit.REGION_BUILD_RETRIED) == 1


def test_an_admin_rolls_a_failed_build_back_by_api_and_a_second_rollback_is_refused(
    sandbox: Path, client_for: ClientFor
) -> None:
    request = request_region()
    run = failed_build(request)
    admin = client_for(Persona.PLATFORM_ADMIN)

    answer = post(admin, f"/api/region-requests/{request.pk}/rollback/")
    again = post(admin, f"/api/region-requests/{request.pk}/rollback/")

    assert answer.status_code == 200
    assert answer.json()["status"] == RegionRequestStatus.ROLLING_BACK
    assert run.undo_runs.count() == 1
    assert events(request, audit.REGION_ROLLBACK_STARTED) == 1
    assert again.status_code == 400
    assert "Only a failed build can be rolled back." in again.json()["error"]["fields"]["non_field_errors"]


def test_a_build_that_has_not_failed_is_neither_retried_nor_rolled_back(sandbox: Path, client_for: ClientFor) -> None:
    request = request_region()
    admin = client_for(Persona.PLATFORM_ADMIN)

    retried = post(admin, f"/api/region-requests/{request.pk}/retry/")
    rolled_back = post(admin, f"/api/region-requests/{request.pk}/rollback/")

    assert retried.status_code == 400
    assert retried.json()["error"]["fields"]["non_field_errors"] == ["Only a failed build can be retried."]
    assert rolled_back.status_code == 400
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.PENDING_APPROVAL


@pytest.mark.parametrize("verb", ["cancel", "retry", "rollback"])
@pytest.mark.parametrize(("who", "status"), [(Persona.DEVELOPER, 403), (Persona.AUDITOR, 403), (None, 401)])
def test_who_may_not_change_a_region_request_is_refused_and_nothing_changes(
    sandbox: Path, client_for: ClientFor, verb: str, who: Persona | None, status: int
) -> None:
    request = request_region()
    failed_build(request)

    answer = post(client_for(who), f"/api/region-requests/{request.pk}/{verb}/", key="refused")

    assert answer.status_code == status
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.FAILED
    acted = (audit.REGION_REQUEST_CANCELLED, audit.REGION_BUILD_RETRIED, audit.REGION_ROLLBACK_STARTED)
    assert sum(events(request, verb) for verb in acted) == 0


@pytest.mark.parametrize("path", ["/api/region-requests/999999/cancel/", "/api/region-requests/nope/retry/"])
def test_a_region_request_that_does_not_exist_is_a_structured_404(
    sandbox: Path, client_for: ClientFor, path: str
) -> None:
    answer = post(client_for(Persona.PLATFORM_ADMIN), path)

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


# --- failovers -------------------------------------------------------------------------------------------------


def a_waiting_failover() -> FailoverRequest:
    return ask(registered_with_a_replica(Region.objects.get(provider="aws", code="eu-west-1"), "lms-db"))


def test_an_admin_cancels_a_waiting_failover_once_per_key(sandbox: Path, client_for: ClientFor) -> None:
    failover = a_waiting_failover()
    admin = client_for(Persona.PLATFORM_ADMIN)
    path = f"/api/regions/failovers/{failover.pk}/cancel/"

    first = post(admin, path, key="cancel-failover")
    again = post(admin, path, key="cancel-failover")
    without_key = post(admin, path)

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["status"] == FailoverStatus.CANCELLED
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.CANCELLED
    assert events(failover, audit.FAILOVER_CANCELLED) == 1
    assert without_key.status_code == 400
    assert "only one waiting for approval can" in without_key.json()["error"]["fields"]["non_field_errors"][0]


def test_an_admin_retries_a_failed_failover_and_one_not_failed_is_refused(sandbox: Path, client_for: ClientFor) -> None:
    failover = approve_failover(a_waiting_failover())
    admin = client_for(Persona.PLATFORM_ADMIN)
    not_failed = post(admin, f"/api/regions/failovers/{failover.pk}/retry/")
    run = failovers.failover_run(failover)
    assert run is not None
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="The cloud has no such replica.")
    FailoverRequest.objects.filter(pk=failover.pk).update(status=FailoverStatus.FAILED)

    retried = post(admin, f"/api/regions/failovers/{failover.pk}/retry/")

    assert not_failed.status_code == 400
    assert not_failed.json()["error"]["fields"]["non_field_errors"] == ["Only a failed failover can be retried."]
    assert retried.status_code == 200
    assert retried.json()["status"] == FailoverStatus.RUNNING
    assert events(failover, audit.FAILOVER_RETRIED) == 1


def test_a_failover_has_no_rollback(sandbox: Path, client_for: ClientFor) -> None:
    failover = a_waiting_failover()

    answer = post(client_for(Persona.PLATFORM_ADMIN), f"/api/regions/failovers/{failover.pk}/rollback/")

    assert answer.status_code == 404
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.PENDING_APPROVAL


@pytest.mark.parametrize("verb", ["cancel", "retry"])
@pytest.mark.parametrize(("who", "status"), [(Persona.DEVELOPER, 403), (Persona.TEAM_LEAD, 403), (None, 401)])
def test_who_may_not_change_a_failover_is_refused_and_nothing_changes(
    sandbox: Path, client_for: ClientFor, verb: str, who: Persona | None, status: int
) -> None:
    failover = a_waiting_failover()

    answer = post(client_for(who), f"/api/regions/failovers/{failover.pk}/{verb}/", key="refused")

    assert answer.status_code == status
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.PENDING_APPROVAL
    assert events(failover, audit.FAILOVER_CANCELLED) == events(failover, audit.FAILOVER_RETRIED) == 0
