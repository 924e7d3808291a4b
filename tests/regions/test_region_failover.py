"""Failing a region over to its DR partner: refused when there is nothing to fail over to, approved by two other
platform admins, carried out by the ``regions.failover`` workflow against the sandbox.

The same workflow against moto and the Azure transport is in test_region_failover_clouds.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse

from access.models import AuditEvent, Role, User
from approvals import services as approvals
from approvals.models import ApprovalRequest, ApprovalStatus
from notifications.models import Notification
from portal.demo import Persona
from providers import errors
from providers.cloud import DatabaseSpec
from regions.choices import FailoverStatus, RegionStatus, ResourceStatus
from regions.demo import load_demo_region_resources
from regions.drivers import cloud_driver_for
from regions.failover import services as failovers
from regions.models import FailoverRequest, Region, RegionResource
from tests.factories import GrantFactory, make_user
from tests.regions.test_region_build import (
    admin,
    approve,
    build,
    cloud_in,
    request_region,
    run_to_the_end,
    second_admin,
)
from workflows.models import Run, RunStatus, StepStatus

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

PRIMARY, PARTNER = "eu-south-1", "eu-west-3"
DATABASE = "portal-eu-south-1-db"
REPLICA = f"{DATABASE}-replica"


# --- shared by the failover tests (imported by test_region_failover_clouds.py) ----------------------------------


def third_admin() -> User:
    """A third platform admin: a failover needs two approvers, neither of them the requester."""
    user = make_user(username="admin-three", first_name="Tomas", last_name="Lind")
    if not user.grants.exists():
        GrantFactory(role=Role.objects.get(slug="platform_admin"), user=user)
    return user


def built_region(**changes: Any) -> Region:
    """A region built by the portal (with its database's replica in the DR partner), as the build-out leaves it."""
    run = build(approve(request_region(**changes)))
    assert run.status == RunStatus.SUCCEEDED, run.error
    return Region.objects.get(code=changes.get("code", PRIMARY))


def ask(
    region: Region, actor: User | None = None, reason: str = "eu-south-1 is down.", **kwargs: Any
) -> FailoverRequest:
    return failovers.failover_request_create(actor=actor or admin(), region_id=region.pk, reason=reason, **kwargs)


def registered_with_a_replica(region: Region, database: str) -> Region:
    """A region built elsewhere: its database and replica made in the sandbox cloud, recorded with no request."""
    partner = region.dr_partner
    assert partner is not None
    assert region.account is not None
    cloud = cloud_driver_for(region)
    cloud.ensure_database(
        DatabaseSpec(
            name=database,
            engine_version="16",
            instance_class="db.t4g.medium",
            storage_gb=20,
            backup_retention_days=10,
            point_in_time_recovery=True,
        )
    )
    replica = cloud.ensure_database_replica(database, partner.code)
    RegionResource.objects.create(
        region=region,
        kind="database",
        name=database,
        region_code=region.code,
        position=1,
        settings={"backup_retention_days": 10},
    )
    RegionResource.objects.create(
        region=region,
        kind="database_replica",
        name=replica.name,
        region_code=partner.code,
        position=2,
        settings={"source": database},
    )
    return region


def approval_of(failover: FailoverRequest) -> ApprovalRequest:
    return ApprovalRequest.objects.get(subject_id=str(failover.pk), purpose=failovers.FAILOVER)


def approve_failover(failover: FailoverRequest) -> FailoverRequest:
    for approver in (second_admin(), third_admin()):
        approvals.decide(approval_of(failover).pk, approver=approver, approve=True)
    return FailoverRequest.objects.get(pk=failover.pk)


def carry_out(failover: FailoverRequest) -> Run:
    run = failovers.failover_run(failover)
    assert run is not None, "the approval started no failover"
    return run_to_the_end(run)


def verbs_of(failover: FailoverRequest) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="regions.failoverrequest", object_id=str(failover.pk))
        .order_by("pk")
        .values_list("verb", flat=True)
    )


# --- the sandbox -----------------------------------------------------------------------------------------------


@pytest.fixture
def sandbox(demo: None, settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path  # a sandbox of this test's own
    return tmp_path


def test_an_approved_failover_promotes_the_replica_and_the_partner_serves(sandbox: Path) -> None:
    region = built_region()
    failover = ask(region)
    assert (failover.status, failover.partner.code, failover.database) == (
        FailoverStatus.PENDING_APPROVAL,
        PARTNER,
        DATABASE,
    )
    assert failover.replica_lag_seconds is not None, "the lag the approvers weigh is recorded"

    run = carry_out(approve_failover(failover))

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.DONE
    promoted = cloud_in(PARTNER).describe_database(REPLICA)
    assert (promoted.status, promoted.replica, promoted.backup_retention_days) == ("available", None, 14)
    assert promoted.latest_restorable_time is not None, "backups and point-in-time recovery are on"
    assert cloud_in(PRIMARY).describe_database(DATABASE).replica is None, "the primary replicates to nothing now"
    replica_record = RegionResource.objects.get(region=region, kind="database_replica")
    assert replica_record.status == ResourceStatus.PROMOTED
    partner = Region.objects.get(code=PARTNER)
    new_record = RegionResource.objects.get(region=partner, kind="database")
    assert (new_record.name, new_record.request, new_record.status, new_record.provider_id) == (
        REPLICA,
        None,
        ResourceStatus.CREATED,
        promoted.id,
    )
    assert (partner.status, Region.objects.get(pk=region.pk).status) == (RegionStatus.ACTIVE, RegionStatus.DEGRADED)
    assert verbs_of(failover) == [
        "regions.failover_requested",
        "regions.failover_started",
        "regions.failover_finished",
    ]
    notice = Notification.objects.filter(recipient=admin(), kind="regions.failover_done").get()
    assert "eu-west-3 serves" in notice.title


def test_a_step_performed_twice_promotes_one_database_and_records_it_once(sandbox: Path) -> None:
    failover = approve_failover(ask(built_region()))
    run = failovers.failover_run(failover)
    assert run is not None
    run = run_to_the_end(run)
    assert run.status == RunStatus.SUCCEEDED, run.error

    # As if a worker had been killed after each step's cloud call, before its state was saved: do them all again.
    run.steps.update(status=StepStatus.PENDING, finished_at=None)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.PENDING, finished_at=None)
    again = run_to_the_end(Run.objects.get(pk=run.pk))

    assert again.status == RunStatus.SUCCEEDED, again.error
    assert [record["name"] for record in cloud_in(PARTNER).records("databases")] == [REPLICA]
    assert [record["name"] for record in cloud_in(PRIMARY).records("databases")] == [DATABASE]
    assert RegionResource.objects.filter(kind="database", region__code=PARTNER).count() == 1
    assert RegionResource.objects.filter(kind="database_replica", status=ResourceStatus.PROMOTED).count() == 1


def test_a_failed_failover_is_retried_from_its_failed_step(sandbox: Path) -> None:
    failover = approve_failover(ask(built_region()))
    run = failovers.failover_run(failover)
    assert run is not None
    # The promotion fails for good (a database the cloud has no replica of), after the check passed.
    Run.objects.filter(pk=run.pk).update(params={**run.params, "database": "no-such-db"})
    run.steps.filter(action="check").update(status=StepStatus.SUCCEEDED, output={"lag_seconds": 1.0})
    failed = run_to_the_end(run)
    assert failed.status == RunStatus.FAILED
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.FAILED
    assert "no replica" in failed.error

    Run.objects.filter(pk=run.pk).update(params=run.params)
    failovers.failover_retry(actor=admin(), failover_id=failover.pk)
    done = run_to_the_end(Run.objects.get(pk=run.pk))

    assert done.status == RunStatus.SUCCEEDED, done.error
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.DONE
    assert verbs_of(failover)[-3:] == [
        "regions.failover_finished",
        "regions.failover_retried",
        "regions.failover_finished",
    ]


def test_only_a_failed_failover_can_be_retried(sandbox: Path) -> None:
    failover = ask(built_region())

    with pytest.raises(ValidationError, match="Only a failed failover can be retried"):
        failovers.failover_retry(actor=admin(), failover_id=failover.pk)


def test_a_region_registered_elsewhere_fails_over_its_recorded_replica(sandbox: Path) -> None:
    region = registered_with_a_replica(Region.objects.get(provider="aws", code="eu-west-1"), "lms-db")
    failover = ask(region)
    assert (failover.partner.code, failover.database) == ("eu-central-1", "lms-db")

    run = carry_out(approve_failover(failover))

    assert run.status == RunStatus.SUCCEEDED, run.error
    promoted = cloud_in("eu-central-1").describe_database("lms-db-replica")
    assert (promoted.replica, promoted.backup_retention_days) == (None, 10), "the primary's retention, from its record"
    assert RegionResource.objects.get(region=region, kind="database_replica").status == ResourceStatus.PROMOTED
    assert RegionResource.objects.filter(region__code="eu-central-1", kind="database", name="lms-db-replica").exists()


def test_the_demo_regions_built_elsewhere_fail_over_or_say_why_they_cannot(sandbox: Path) -> None:
    load_demo_region_resources()  # what `make run` registers: data services made in the sandbox, no request

    dublin = ask(Region.objects.get(provider="aws", code="eu-west-1"))
    assert (dublin.partner.code, dublin.database) == ("eu-central-1", "platform-eu-west-1-db")
    # The demo's us-east-1 lost its replica: the record is there, the cloud says there is nothing to promote.
    with pytest.raises(ValidationError, match="The cloud reports no replica of platform-us-east-1-db in us-west-2"):
        ask(Region.objects.get(provider="aws", code="us-east-1"))

    run = carry_out(approve_failover(dublin))

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert cloud_in("eu-central-1").describe_database("platform-eu-west-1-db-replica").replica is None
    assert Region.objects.get(code="eu-west-1").status == RegionStatus.DEGRADED


# --- refusals --------------------------------------------------------------------------------------------------


def test_a_region_without_a_dr_partner_is_refused(demo: None) -> None:
    region = Region.objects.get(provider="aws", code="eu-west-1")
    Region.objects.filter(pk=region.pk).update(dr_partner=None)
    region.refresh_from_db()

    with pytest.raises(ValidationError, match="has no DR partner region to fail over to"):
        ask(region)

    assert not FailoverRequest.objects.exists()


def test_a_region_without_a_replica_on_record_is_refused(sandbox: Path) -> None:
    region = built_region(database_replica=False, dr_partner_code=PARTNER)
    assert region.dr_partner is not None

    with pytest.raises(ValidationError, match=r"has no database with a read replica in eu-west-3 on record"):
        ask(region)


def test_a_partner_in_another_zone_is_refused_and_says_why(sandbox: Path) -> None:
    region = built_region()
    partner = region.dr_partner
    assert partner is not None
    Region.objects.filter(pk=partner.pk).update(residency_zone="US")

    with pytest.raises(ValidationError, match=r"would move the data out of its residency zone"):
        ask(Region.objects.get(pk=region.pk))


def test_a_replica_the_cloud_does_not_find_is_refused(sandbox: Path) -> None:
    region = built_region()
    cloud_in(PRIMARY).delete_database_replica(DATABASE, PARTNER)

    with pytest.raises(ValidationError, match="The cloud reports no replica of portal-eu-south-1-db in eu-west-3"):
        ask(region)


def test_a_second_failover_while_one_is_under_way_is_refused(sandbox: Path) -> None:
    region = built_region()
    ask(region)

    under_way = r"A failover of eu-south-1 is already under way \(waiting for approval\)"
    with pytest.raises(ValidationError, match=under_way):
        ask(region, actor=second_admin())


def test_a_reason_is_required(sandbox: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        ask(built_region(), reason="  ")

    assert "reason" in refused.value.message_dict


def test_only_platform_admins_may_ask_for_a_failover(sandbox: Path, persona: Callable[[Persona], User]) -> None:
    region = built_region()

    with pytest.raises((PermissionDenied, Http404)):
        ask(region, actor=persona(Persona.DEVELOPER))


def test_the_same_idempotency_key_gives_back_the_first_failover(sandbox: Path) -> None:
    region = built_region()

    first = ask(region, idempotency_key="k-1")
    again = ask(region, idempotency_key="k-1")

    assert again.pk == first.pk
    assert FailoverRequest.objects.count() == 1


# --- approval --------------------------------------------------------------------------------------------------


def test_a_failover_needs_two_different_admins_and_never_the_requester(sandbox: Path) -> None:
    failover = ask(built_region())
    approval = approval_of(failover)
    assert approval.required_approvals == 2

    with pytest.raises(ValidationError, match="You asked for this"):
        approvals.decide(approval.pk, approver=admin(), approve=True)
    approvals.decide(approval.pk, approver=second_admin(), approve=True)
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.PENDING_APPROVAL
    assert failovers.failover_run(failover) is None, "one approval promotes nothing"
    with pytest.raises(ValidationError, match="You have already decided this request"):
        approvals.decide(approval.pk, approver=second_admin(), approve=True)

    approvals.decide(approval.pk, approver=third_admin(), approve=True)

    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.RUNNING
    assert failovers.failover_run(failover) is not None


def test_a_rejected_failover_promotes_nothing(sandbox: Path) -> None:
    failover = ask(built_region())

    approvals.decide(approval_of(failover).pk, approver=second_admin(), approve=False, reason="It is back up.")

    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.REJECTED
    assert failovers.failover_run(failover) is None
    assert cloud_in(PRIMARY).describe_database(DATABASE).replica is not None
    assert verbs_of(failover) == ["regions.failover_requested", "regions.failover_rejected"]


def test_a_failover_waiting_for_approval_can_be_cancelled_and_its_approval_is_withdrawn(sandbox: Path) -> None:
    failover = ask(built_region())

    failovers.failover_cancel(actor=admin(), failover_id=failover.pk)

    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.CANCELLED
    assert approval_of(failover).status == ApprovalStatus.WITHDRAWN
    assert verbs_of(failover)[-1] == "regions.failover_cancelled"
    # Cancelled, it no longer blocks a new one.
    assert ask(Region.objects.get(pk=failover.region_id)).status == FailoverStatus.PENDING_APPROVAL


def test_a_running_failover_cannot_be_cancelled(sandbox: Path) -> None:
    failover = approve_failover(ask(built_region()))

    with pytest.raises(ValidationError, match="cannot be cancelled"):
        failovers.failover_cancel(actor=admin(), failover_id=failover.pk)


def test_a_promotion_the_cloud_cannot_find_fails_the_step_in_words(sandbox: Path) -> None:
    failover = approve_failover(ask(built_region()))
    cloud_in(PRIMARY).delete_database_replica(DATABASE, PARTNER)

    failed = carry_out(failover)

    assert failed.status == RunStatus.FAILED
    assert "The cloud reports no replica of portal-eu-south-1-db in eu-west-3" in failed.error
    with pytest.raises(errors.NotFound):
        cloud_in(PARTNER).describe_database(REPLICA)


# --- the pages -------------------------------------------------------------------------------------------------


def failover_page(region: Region) -> str:
    return reverse("regions:failover_create", kwargs={"provider": region.provider, "code": region.code})


def test_the_region_page_offers_a_failover_to_those_who_may_ask(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    region = built_region()
    page = reverse("regions:detail", kwargs={"provider": "aws", "code": PRIMARY})

    assert "Fail over to eu-west-3" in client_for(Persona.PLATFORM_ADMIN).get(page).content.decode()
    assert "Fail over to" not in client_for(Persona.DEVELOPER).get(page).content.decode()
    assert client_for(Persona.DEVELOPER).get(failover_page(region)).status_code == 403


def test_the_request_page_shows_the_partner_the_lag_the_targets_and_that_it_cannot_be_undone(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    region = built_region()

    page = client_for(Persona.PLATFORM_ADMIN).get(failover_page(region)).content.decode()

    assert "over to eu-west-3</h1>" in page
    assert REPLICA in page
    assert "RPO 15 minutes, RTO 2 hours" in page
    assert "It cannot be undone" in page
    assert "seconds" in page, "the replica's lag now"


def test_asking_in_the_browser_lands_on_the_failover_waiting_for_two_approvals(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    region = built_region()

    response = client_for(Persona.PLATFORM_ADMIN).post(failover_page(region), {"reason": "Milan is down."})

    failover = FailoverRequest.objects.get()
    assert response.status_code == 302
    assert response.headers["Location"] == reverse("regions:failover", kwargs={"pk": failover.pk})
    detail = client_for(Persona.PLATFORM_ADMIN).get(response.headers["Location"]).content.decode()
    assert "Milan is down." in detail
    assert "cannot be undone" in detail
    assert 'data-failover-status="pending_approval"' in detail


def test_the_form_says_why_a_region_without_a_replica_cannot_fail_over_and_keeps_the_reason(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    region = built_region(database_replica=False)

    response = client_for(Persona.PLATFORM_ADMIN).post(failover_page(region), {"reason": "Milan is down."})

    assert response.status_code == 400
    page = response.content.decode()
    assert "has no database with a read replica in eu-west-3 on record" in page
    assert "Milan is down." in page
    assert not FailoverRequest.objects.exists()


def test_a_second_admin_approves_on_the_failover_page(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    failover = ask(built_region())
    client = Client()
    client.force_login(second_admin())

    page = client.get(reverse("regions:failover", kwargs={"pk": failover.pk})).content.decode()

    assert reverse("approvals:decide", kwargs={"pk": approval_of(failover).pk}) in page


# --- the API ---------------------------------------------------------------------------------------------------


def post_failover(client: Client, body: dict[str, Any], idempotency_key: str = "") -> Any:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return client.post("/api/regions/failovers/", json.dumps(body), content_type="application/json", headers=headers)


def test_the_api_asks_for_a_failover_once_per_idempotency_key_and_shows_it(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    region = built_region()
    client = client_for(Persona.PLATFORM_ADMIN)
    body = {"region": region.pk, "reason": "Milan is down."}

    first = post_failover(client, body, idempotency_key="k-1")
    again = post_failover(client, body, idempotency_key="k-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    shown = client.get(f"/api/regions/failovers/{first.json()['id']}/").json()
    assert (shown["region"], shown["partner"], shown["status"], shown["database"]) == (
        PRIMARY,
        PARTNER,
        "pending_approval",
        DATABASE,
    )
    assert shown["replica_lag_seconds"] is not None


def test_the_api_refuses_a_region_without_a_partner_in_words(
    demo: None, client_for: Callable[[Persona | None], Client]
) -> None:
    region = Region.objects.get(provider="aws", code="eu-west-1")
    Region.objects.filter(pk=region.pk).update(dr_partner=None)

    response = post_failover(client_for(Persona.PLATFORM_ADMIN), {"region": region.pk, "reason": "Down."})

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["non_field_errors"]
    assert "has no DR partner region to fail over to" in message


def test_the_api_refuses_a_second_failover_while_one_is_live(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    region = built_region()
    ask(region)

    response = post_failover(client_for(Persona.PLATFORM_ADMIN), {"region": region.pk, "reason": "Still down."})

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["non_field_errors"]
    assert message == "A failover of eu-south-1 is already under way (waiting for approval); follow that one."


def test_the_api_refuses_a_developer(sandbox: Path, client_for: Callable[[Persona | None], Client]) -> None:
    region = built_region()

    response = post_failover(client_for(Persona.DEVELOPER), {"region": region.pk, "reason": "Down."})

    assert response.status_code == 403
    assert not FailoverRequest.objects.exists()


def test_the_failover_page_shows_its_steps_and_offers_a_retry_when_it_failed(
    sandbox: Path, client_for: Callable[[Persona | None], Client]
) -> None:
    failover = approve_failover(ask(built_region()))
    cloud_in(PRIMARY).delete_database_replica(DATABASE, PARTNER)
    assert carry_out(failover).status == RunStatus.FAILED
    url = reverse("regions:failover", kwargs={"pk": failover.pk})

    admin_page = client_for(Persona.PLATFORM_ADMIN).get(url).content.decode()
    developer_page = client_for(Persona.DEVELOPER).get(url).content.decode()

    assert 'data-failover-status="failed"' in admin_page
    assert "Promote portal-eu-south-1-db-replica in eu-west-3 to a primary with backups" in admin_page
    assert reverse("regions:failover_retry", kwargs={"pk": failover.pk}) in admin_page
    assert reverse("regions:failover_retry", kwargs={"pk": failover.pk}) not in developer_page
