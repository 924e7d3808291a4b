"""Rolling a workload back: within policy, never during a freeze, Argo CD acknowledged, production approved
by someone else; the cluster gets the earlier revision, the rollback is a deployment and the bad one is
marked rolled back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.audit import services as audit
from access.models import AuditEvent, Team, Tier, User
from approvals import services as approvals
from approvals.models import ApprovalRequest
from deployments.choices import DeploymentSource, DeploymentStatus, Health, RollbackStatus
from deployments.models import ArgoApplication, Deployment, FreezeWindow, RollbackRequest, Service, Workload
from deployments.rollbacks import freezes
from deployments.rollbacks.services import ROLLBACKS, rollback_choices, rollback_request
from deployments.services import Target, record_deployment
from deployments.sync import sync_cluster
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from notifications.models import Notification
from portal.demo import Persona
from providers.sandbox.cluster import SandboxClusterDriver
from regions.models import Cluster
from tests.deployments.cluster_objects import IMAGES, seed_deployment
from tests.environments.test_provisioning_workflow import run_to_the_end
from tests.factories import make_service, make_workload
from workflows.models import Run, RunStatus

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]


@pytest.fixture
def developer(persona: Callable[[Persona], User]) -> User:
    return persona(Persona.DEVELOPER)


@pytest.fixture
def lead(persona: Callable[[Persona], User]) -> User:
    return persona(Persona.TEAM_LEAD)


def environment(cluster: Cluster, developer: User, tier: str = Tier.STAGING) -> Environment:
    template = EnvironmentTemplate.objects.filter(tier=tier).first()
    assert template is not None
    return Environment.objects.create(
        name="checkout-staging",
        team=Team.objects.get(slug="student-experience"),
        template=template,
        tier=tier,
        cluster=cluster,
        requested_by=developer,
        status=EnvironmentStatus.READY,
        monthly_estimate=Decimal(100),
        currency="EUR",
    )


def workload(cluster: Cluster, developer: User, *, tier: str = Tier.STAGING, **fields: Any) -> Workload:
    """The synced row of the seeded Deployment, with the deployment of 1.4.0 that a rollback undoes."""
    place = environment(cluster, developer, tier)
    service: Service = make_service(slug="checkout", team=place.team)
    row = make_workload(
        cluster=cluster,
        namespace="checkout-staging-core-services",
        name="checkout",
        service=service,
        environment=place,
        team=place.team,
        tier=tier,
        images=IMAGES[-1:],
        version="1.4.0",
        **{"revision": 2, **fields},
    )
    record_deployment(
        Target(service=service, environment=place, cluster=cluster, namespace=row.namespace, workload=row),
        version="1.4.0",
        source=DeploymentSource.CLUSTER,
        started_at=timezone.now() - timedelta(hours=1),
        status=DeploymentStatus.SUCCEEDED,
    )
    return row


def running_image(driver: SandboxClusterDriver) -> str:
    (deployment,) = driver.objects("Deployment", "checkout-staging-core-services")
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def finish(rollback: RollbackRequest) -> RollbackRequest:
    assert run_to_the_end(Run.objects.get(key=f"rollback:{rollback.pk}")).status == RunStatus.SUCCEEDED
    return RollbackRequest.objects.get(pk=rollback.pk)


def test_a_developer_rolls_a_staging_workload_back_and_the_bad_deployment_is_marked(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    row = workload(demo_cluster, developer)
    assert [revision.revision for revision in rollback_choices(row)] == [1]

    rollback = rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s")
    assert rollback.status == RollbackStatus.RUNNING
    rollback = finish(rollback)

    assert rollback.status == RollbackStatus.SUCCEEDED
    assert running_image(driver) == IMAGES[0]
    made = Deployment.objects.get(source=DeploymentSource.ROLLBACK)
    assert (made.version, made.previous_version, made.triggered_by) == ("1.3.0", "1.4.0", developer.username)
    undone = Deployment.objects.get(version="1.4.0")
    assert (undone.status, undone.rolled_back_by) == (DeploymentStatus.ROLLED_BACK, made)
    assert Workload.objects.get(pk=row.pk).version == "1.3.0"
    events = AuditEvent.objects.filter(object_type="deployments.rollbackrequest", object_id=str(rollback.pk))
    verbs = list(events.order_by("pk").values_list("verb", flat=True))
    assert verbs == [audit.ROLLBACK_REQUESTED, audit.ROLLBACK_STARTED, audit.ROLLBACK_FINISHED]
    assert Notification.objects.filter(recipient=developer, kind="deployments.rollback_succeeded").exists()


def test_after_a_rollback_the_workload_shows_the_clusters_answer_not_the_last_syncs(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    row = workload(demo_cluster, developer, health=Health.PROGRESSING, rolled_out_at=timezone.now() - timedelta(days=1))

    finish(rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s"))

    row.refresh_from_db()
    assert row.health == Health.HEALTHY  # both replicas ready, as the cluster answered the rollback
    assert row.rolled_out_at is not None
    assert timezone.now() - row.rolled_out_at < timedelta(minutes=1)  # not "progressing for a day"
    assert Deployment.objects.get(source=DeploymentSource.ROLLBACK).status == DeploymentStatus.SUCCEEDED


def test_a_rollback_still_rolling_out_is_in_progress_until_the_sync_sees_it_finish(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    seed_deployment(driver.seed, "checkout-staging-core-services", "checkout", IMAGES, ready=1)
    row = workload(demo_cluster, developer, health=Health.HEALTHY)

    finish(rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s"))

    row.refresh_from_db()
    assert row.health == Health.PROGRESSING
    made = Deployment.objects.get(source=DeploymentSource.ROLLBACK)
    assert (made.status, made.finished_at) == (DeploymentStatus.IN_PROGRESS, None)

    (seen,) = driver.objects("Deployment", "checkout-staging-core-services")
    seen["status"]["readyReplicas"] = 2  # the rollout finished a little after the rollback
    seen["status"]["conditions"][0]["lastUpdateTime"] = (timezone.now() + timedelta(minutes=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    driver.seed(seen)
    sync_cluster(demo_cluster)

    assert Workload.objects.get(pk=row.pk).health == Health.HEALTHY
    made.refresh_from_db()
    assert made.status == DeploymentStatus.SUCCEEDED


def test_a_retried_rollback_step_does_not_go_back_one_revision_too_far(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    seed_deployment(driver.seed, "checkout-staging-core-services", "checkout", ["reg/checkout:1.2.0", *IMAGES])
    row = workload(demo_cluster, developer, revision=3)
    rollback = rollback_request(actor=developer, workload_id=row.pk, to_revision=2, reason="bad release")
    run = Run.objects.get(key=f"rollback:{rollback.pk}")
    driver.rollback_workload("Deployment", row.namespace, row.name, 2)  # the step's call landed, then the worker died

    finish(rollback)

    assert running_image(driver) == IMAGES[0]  # still revision 2's image, not revision 1's
    step = run.steps.get(action="rollback")
    assert step.output["already"] is True


def test_a_production_rollback_waits_for_someone_elses_approval(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User, lead: User
) -> None:
    row = workload(demo_cluster, developer, tier=Tier.PRODUCTION)

    rollback = rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s")

    assert rollback.status == RollbackStatus.PENDING_APPROVAL
    assert not Run.objects.filter(key=f"rollback:{rollback.pk}").exists()
    approval = ApprovalRequest.objects.get(subject_id=str(rollback.pk), purpose="deployments.rollback")
    with pytest.raises((ValidationError, PermissionDenied, Http404)):
        approvals.decide(approval.pk, approver=developer, approve=True)
    approvals.decide(approval.pk, approver=lead, approve=True)
    assert finish(rollback).status == RollbackStatus.SUCCEEDED
    assert running_image(driver) == IMAGES[0]


def test_a_rejected_production_rollback_changes_nothing(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User, lead: User
) -> None:
    row = workload(demo_cluster, developer, tier=Tier.PRODUCTION)
    rollback = rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s")
    approval = ApprovalRequest.objects.get(subject_id=str(rollback.pk), purpose="deployments.rollback")

    approvals.decide(approval.pk, approver=lead, approve=False, reason="fix forward instead")

    assert RollbackRequest.objects.get(pk=rollback.pk).status == RollbackStatus.REJECTED
    assert running_image(driver) == IMAGES[-1]
    (told,) = Notification.objects.filter(recipient=developer)  # told once
    assert told.kind == "approvals.rejected"
    assert "fix forward instead" in told.body
    events = AuditEvent.objects.filter(object_type="deployments.rollbackrequest", object_id=str(rollback.pk))
    rejected = events.get(verb=audit.ROLLBACK_REJECTED)
    assert (rejected.actor, rejected.after) == (lead, {"status": RollbackStatus.REJECTED})


def test_an_approved_production_rollback_runs_as_its_approver(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User, lead: User
) -> None:
    row = workload(demo_cluster, developer, tier=Tier.PRODUCTION)
    rollback = rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s")
    approval = ApprovalRequest.objects.get(subject_id=str(rollback.pk), purpose="deployments.rollback")

    approvals.decide(approval.pk, approver=lead, approve=True)

    assert Run.objects.get(key=f"rollback:{rollback.pk}").created_by == lead


def test_a_run_ending_for_a_rollback_deleted_meanwhile_is_passed_over(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    """As for the other kinds of request: a subject that is gone is passed over, not an error in the worker."""
    row = workload(demo_cluster, developer)
    rollback = rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s")
    run = Run.objects.get(key=f"rollback:{rollback.pk}")
    RollbackRequest.objects.filter(pk=rollback.pk).delete()
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="the cluster said no")

    ROLLBACKS.finished(Run.objects.get(pk=run.pk))

    assert not Notification.objects.filter(recipient=developer, kind__startswith="deployments.rollback").exists()


def test_no_rollback_during_a_freeze_window(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User, lead: User
) -> None:
    row = workload(demo_cluster, developer)
    assert row.environment is not None
    now = timezone.now()
    freeze = freezes.freeze_create(
        actor=lead,
        environment_id=row.environment.pk,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
        reason="exam week",
    )

    with pytest.raises(ValidationError, match=r"checkout-staging is frozen until .*: exam week"):
        rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s")
    assert not RollbackRequest.objects.exists()

    freezes.freeze_end(actor=lead, freeze_id=freeze.pk)
    assert rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s")
    assert [
        event.verb for event in AuditEvent.objects.filter(verb__startswith="deployments.freeze").order_by("pk")
    ] == [
        audit.FREEZE_CREATED,
        audit.FREEZE_ENDED,
    ]


def test_an_argo_cd_application_with_auto_sync_must_be_acknowledged(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    row = workload(demo_cluster, developer, argocd_application="checkout-staging")
    ArgoApplication.objects.create(
        cluster=demo_cluster,
        namespace="argocd",
        name="checkout-staging",
        auto_sync=True,
        target_revision="main",
        last_seen_at=timezone.now(),
    )

    with pytest.raises(ValidationError, match="auto-sync on: Argo CD will put the version in Git") as refused:
        rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s")
    assert "argocd_acknowledged" in refused.value.message_dict

    rollback = rollback_request(
        actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s", argocd_acknowledged=True
    )
    assert rollback.status == RollbackStatus.RUNNING


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to_revision": 7}, r"Revision 7 is not one to go back to \(offered: 1\)"),
        ({"to_revision": 2}, r"Revision 2 runs 1\.4\.0, the version running now"),  # the current one
        ({"reason": "  "}, "Say why"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User, change: dict[str, Any], message: str
) -> None:
    row = workload(demo_cluster, developer)
    values: dict[str, Any] = {"to_revision": 1, "reason": "checkout 500s", **change}

    with pytest.raises(ValidationError, match=message):
        rollback_request(actor=developer, workload_id=row.pk, **values)
    assert not RollbackRequest.objects.exists()


def test_a_revision_with_the_images_running_now_is_not_offered_and_is_refused_in_words(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    # Revision 3 changed only the pod's settings: revision 2 runs the very images running now.
    seed_deployment(driver.seed, "checkout-staging-core-services", "checkout", [*IMAGES, IMAGES[-1]])
    row = workload(demo_cluster, developer, revision=3)

    assert [revision.revision for revision in rollback_choices(row)] == [1]
    with pytest.raises(ValidationError) as refused:
        rollback_request(actor=developer, workload_id=row.pk, to_revision=2, reason="checkout 500s")

    assert refused.value.message_dict == {
        "to_revision": ["Revision 2 runs 1.4.0, the version running now: there is nothing to roll back to there."]
    }
    assert not RollbackRequest.objects.exists()
    assert not Run.objects.filter(kind="deployments.rollback").exists()
    assert not AuditEvent.objects.filter(verb=audit.ROLLBACK_REQUESTED).exists()
    assert running_image(driver) == IMAGES[-1]


def test_after_a_rollback_the_version_put_back_is_not_offered_again(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    row = workload(demo_cluster, developer)
    finish(rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="checkout 500s"))
    row.refresh_from_db()
    assert row.version == "1.3.0"

    assert 1 not in [revision.revision for revision in rollback_choices(row)]
    with pytest.raises(ValidationError, match=r"Revision 1 runs 1\.3\.0, the version running now"):
        rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="again")
    assert RollbackRequest.objects.count() == 1


def test_gone_workloads_and_cron_jobs_cannot_be_rolled_back(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    row = workload(demo_cluster, developer)
    Workload.objects.filter(pk=row.pk).update(gone_at=timezone.now())
    with pytest.raises(ValidationError, match="gone from its cluster"):
        rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="x")
    Workload.objects.filter(pk=row.pk).update(gone_at=None, kind="CronJob")
    with pytest.raises(ValidationError, match="CronJob keeps no revisions"):
        rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="x")


def test_someone_without_the_right_is_refused(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User, persona: Callable[[Persona], User]
) -> None:
    row = workload(demo_cluster, developer)

    with pytest.raises((PermissionDenied, Http404)):
        rollback_request(actor=persona(Persona.AUDITOR), workload_id=row.pk, to_revision=1, reason="x")
    with pytest.raises((PermissionDenied, Http404)):
        rollback_request(actor=persona(Persona.MANAGER), workload_id=row.pk, to_revision=1, reason="x")
    assert running_image(driver) == IMAGES[-1]


def test_asking_twice_gives_one_rollback(demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User) -> None:
    row = workload(demo_cluster, developer)

    first = rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="x", idempotency_key="k1")
    again = rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="x", idempotency_key="k1")
    assert again.pk == first.pk
    with pytest.raises(ValidationError, match="already waiting or under way"):
        rollback_request(actor=developer, workload_id=row.pk, to_revision=1, reason="x", idempotency_key="k2")
    assert RollbackRequest.objects.count() == 1


def test_a_deployment_made_during_a_freeze_is_flagged(
    demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    row = workload(demo_cluster, developer)
    assert row.environment is not None
    now = timezone.now()
    FreezeWindow.objects.create(
        environment=row.environment,
        starts_at=now - timedelta(minutes=30),
        ends_at=now + timedelta(hours=1),
        reason="exam week",
        created_by=developer,
    )
    during = record_deployment(
        Target(service=row.service, environment=row.environment, workload=row),
        version="1.5.0",
        source=DeploymentSource.PIPELINE,
        started_at=now,
    )

    mine = Deployment.objects.filter(service=row.service)
    flags = dict(freezes.with_freeze_flag(mine).values_list("version", "during_freeze"))  # type: ignore[misc]
    assert freezes.deployed_during_freeze(during)

    assert flags == {"1.4.0": False, during.version: True}  # 1.4.0 went out an hour ago, before the freeze


def test_a_production_rollback_waiting_for_approval_is_cancelled_on_its_page(
    client: Client, demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    rollback = rollback_request(
        actor=developer,
        workload_id=workload(demo_cluster, developer, tier=Tier.PRODUCTION).pk,
        to_revision=1,
        reason="checkout 500s",
    )
    client.force_login(developer)
    page = client.get(reverse("deployments:rollback", args=[rollback.pk]))
    assert "Cancel the request" in page.content.decode()

    response = client.post(reverse("deployments:rollback_cancel", args=[rollback.pk]), follow=True)

    assert RollbackRequest.objects.get(pk=rollback.pk).status == RollbackStatus.CANCELLED
    assert "Rollback of checkout: cancelled." in response.content.decode()
    again = client.post(reverse("deployments:rollback_cancel", args=[rollback.pk]), follow=True)
    assert "A rollback that is cancelled cannot be cancelled." in again.content.decode()


def test_a_failed_rollback_is_retried_from_its_page_and_rolls_back(
    client: Client, demo_cluster: Cluster, driver: SandboxClusterDriver, developer: User
) -> None:
    rollback = rollback_request(
        actor=developer, workload_id=workload(demo_cluster, developer).pk, to_revision=1, reason="checkout 500s"
    )
    run = Run.objects.get(key=f"rollback:{rollback.pk}")
    run.steps.filter(position=1).update(status="failed", error="the cluster did not answer")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="the cluster did not answer")
    RollbackRequest.objects.filter(pk=rollback.pk).update(status=RollbackStatus.FAILED)
    client.force_login(developer)
    assert (
        "Retry from the failed step" in client.get(reverse("deployments:rollback", args=[rollback.pk])).content.decode()
    )

    client.post(reverse("deployments:rollback_retry", args=[rollback.pk]))
    finish(rollback)

    assert RollbackRequest.objects.get(pk=rollback.pk).status == RollbackStatus.SUCCEEDED
    assert running_image(driver) == IMAGES[0]
