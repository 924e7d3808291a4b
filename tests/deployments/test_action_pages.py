"""The rollback, freeze-window and DORA pages, through the Django test client as a signed-in persona."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.audit import services as audit
from access.models import AuditEvent, Tier, User
from deployments.choices import DeploymentSource, DeploymentStatus, RollbackStatus
from deployments.models import ArgoApplication, Deployment, FreezeWindow, RollbackRequest, Workload
from deployments.services import Target, record_deployment
from portal.demo import Persona
from providers.sandbox.cluster import SandboxClusterDriver
from regions.models import Cluster
from tests.deployments.cluster_objects import IMAGES, seed_deployment
from tests.deployments.test_rollback import running_image, workload
from tests.environments.test_provisioning_workflow import run_to_the_end
from tests.factories import make_service
from workflows.models import Run

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]


@pytest.fixture
def signed_in(client: Client, persona: Callable[[Persona], User]) -> Callable[[Persona], Client]:
    def sign_in(who: Persona) -> Client:
        client.force_login(persona(who))
        return client

    return sign_in


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_a_developer_picks_a_revision_rolls_back_and_follows_it(
    signed_in: Callable[[Persona], Client], demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    developer = persona(Persona.DEVELOPER)
    row = workload(demo_cluster, developer)
    client = signed_in(Persona.DEVELOPER)
    url = reverse("deployments:rollback_new", kwargs={"pk": row.pk})

    page = client.get(url)
    assert page.status_code == 200
    assert f"revision 1: {IMAGES[0]}" in text(page)

    answer = client.post(url, {"to_revision": "1", "reason": "checkout 500s", "idempotency_key": "k"})
    rollback = RollbackRequest.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("deployments:rollback", kwargs={"pk": rollback.pk})
    again = client.post(url, {"to_revision": "1", "reason": "checkout 500s", "idempotency_key": "k"})
    assert again["Location"] == answer["Location"]  # a double submit is the same rollback
    assert RollbackRequest.objects.count() == 1

    run_to_the_end(Run.objects.get(key=f"rollback:{rollback.pk}"))
    detail = text(client.get(answer["Location"]))
    assert 'data-rollback-status="succeeded"' in detail
    assert "1.4.0" in detail
    assert "1.3.0" in detail
    assert running_image(driver) == IMAGES[0]
    assert "checkout-staging-core-services/checkout" in text(client.get(reverse("deployments:rollbacks")))


def test_the_rollback_page_says_why_it_cannot_go_ahead(
    signed_in: Callable[[Persona], Client], demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    developer = persona(Persona.DEVELOPER)
    row = workload(demo_cluster, developer, argocd_application="checkout-staging")
    ArgoApplication.objects.create(
        cluster=demo_cluster, namespace="argocd", name="checkout-staging", auto_sync=True, last_seen_at=timezone.now()
    )
    client = signed_in(Persona.DEVELOPER)
    url = reverse("deployments:rollback_new", kwargs={"pk": row.pk})

    page = text(client.get(url))
    assert "Argo CD will put the version in Git" in page
    refused = client.post(url, {"to_revision": "1", "reason": "checkout 500s"})
    assert refused.status_code == 400
    assert "Confirm that you have read this." in text(refused)

    assert row.environment is not None
    FreezeWindow.objects.create(
        environment=row.environment,
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=1),
        reason="exam week",
        created_by=developer,
    )
    frozen = client.post(url, {"to_revision": "1", "reason": "checkout 500s", "argocd_acknowledged": "on"})
    assert frozen.status_code == 400
    assert "is frozen until" in text(frozen)
    assert "exam week" in text(frozen)
    assert not RollbackRequest.objects.exists()


def test_the_rollback_page_refuses_the_version_running_now_in_words(
    signed_in: Callable[[Persona], Client], demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    # Revision 3 changed only the pod's settings: revision 2 runs the very images running now.
    seed_deployment(driver.seed, "checkout-staging-core-services", "checkout", [*IMAGES, IMAGES[-1]])
    row = workload(demo_cluster, persona(Persona.DEVELOPER), revision=3)
    client = signed_in(Persona.DEVELOPER)
    url = reverse("deployments:rollback_new", kwargs={"pk": row.pk})

    page = text(client.get(url))
    assert f"revision 1: {IMAGES[0]}" in page
    assert "revision 2:" not in page
    assert "revision 3:" not in page

    refused = client.post(url, {"to_revision": "2", "reason": "checkout 500s", "idempotency_key": "k"})

    assert refused.status_code == 400
    assert "Revision 2 runs 1.4.0, the version running now: there is nothing to roll back to there." in text(refused)
    assert "checkout 500s" in text(refused)  # what the person typed is kept
    assert not RollbackRequest.objects.exists()
    assert not AuditEvent.objects.filter(verb=audit.ROLLBACK_REQUESTED).exists()
    assert running_image(driver) == IMAGES[-1]


def test_the_deployment_page_and_the_rollback_form_agree_on_the_previous_version(
    signed_in: Callable[[Persona], Client], demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    # The portal recorded 1.4.0 with nothing before it; the cluster keeps 1.3.0 as revision 1.
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    deployment = Deployment.objects.get(version="1.4.0")
    assert deployment.previous_version == ""
    client = signed_in(Persona.DEVELOPER)

    page = text(client.get(reverse("deployments:detail", kwargs={"pk": deployment.pk})))
    form = text(client.get(reverse("deployments:rollback_new", kwargs={"pk": row.pk})))

    assert "data-previous-version>1.3.0 " in page
    assert "kept by the cluster as revision 1" in page
    assert "first deployment here" not in page
    offered = re.findall(r'<option value="(\d+)"[^>]*>revision \d+: ([^<,]+)', form)
    assert offered[0] == ("1", IMAGES[0])  # the newest version offered is the page's previous one
    assert IMAGES[0].endswith(":1.3.0")


def test_a_deployment_page_shows_the_previous_version_the_portal_recorded(
    signed_in: Callable[[Persona], Client], demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    assert row.environment is not None
    newer = record_deployment(
        Target(service=row.service, environment=row.environment, workload=row),
        version="1.5.0",
        source=DeploymentSource.PIPELINE,
        started_at=timezone.now(),
    )
    Workload.objects.filter(pk=row.pk).update(version="1.5.0")

    older = Deployment.objects.get(version="1.4.0")  # no longer what runs: the cluster's history is not its past
    older_page = text(signed_in(Persona.DEVELOPER).get(reverse("deployments:detail", kwargs={"pk": older.pk})))
    newer_page = text(signed_in(Persona.DEVELOPER).get(reverse("deployments:detail", kwargs={"pk": newer.pk})))

    assert "data-previous-version>none (first deployment here)" in older_page
    assert "data-previous-version>1.4.0<" in newer_page


def test_a_production_rollback_waits_and_the_lead_approves_on_its_page(
    signed_in: Callable[[Persona], Client], demo_cluster: Cluster, driver: SandboxClusterDriver, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER), tier=Tier.PRODUCTION)
    client = signed_in(Persona.DEVELOPER)
    client.post(reverse("deployments:rollback_new", kwargs={"pk": row.pk}), {"to_revision": "1", "reason": "500s"})
    rollback = RollbackRequest.objects.get()
    assert rollback.status == RollbackStatus.PENDING_APPROVAL

    lead = signed_in(Persona.TEAM_LEAD)
    page = text(lead.get(reverse("deployments:rollback", kwargs={"pk": rollback.pk})))
    assert "Production rollbacks need an approval" in page
    assert 'value="approve"' in page


def test_a_lead_freezes_an_environment_and_ends_the_freeze(
    signed_in: Callable[[Persona], Client], demo_cluster: Cluster, persona: Any
) -> None:
    row = workload(demo_cluster, persona(Persona.DEVELOPER))
    assert row.environment is not None
    client = signed_in(Persona.TEAM_LEAD)
    url = reverse("deployments:freezes")
    now = timezone.localtime()
    fields = {"environment": str(row.environment.pk), "reason": "exam week"}

    backwards = client.post(
        url, {**fields, "starts_at": f"{now:%Y-%m-%dT%H:%M}", "ends_at": f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M}"}
    )
    assert backwards.status_code == 400
    assert "A freeze must end after it starts." in text(backwards)
    created = client.post(
        url, {**fields, "starts_at": f"{now:%Y-%m-%dT%H:%M}", "ends_at": f"{now + timedelta(days=2):%Y-%m-%dT%H:%M}"}
    )
    assert created.status_code == 302
    freeze = FreezeWindow.objects.get()
    assert "exam week" in text(client.get(url))

    client.post(reverse("deployments:freeze_end", kwargs={"pk": freeze.pk}))
    assert "exam week" not in text(client.get(url))


def test_the_dora_page_shows_the_metrics_with_the_chart_and_its_table(
    signed_in: Callable[[Persona], Client], persona: Any
) -> None:
    developer = persona(Persona.DEVELOPER)
    service = make_service(slug="checkout", team=developer.memberships.get().team)
    now = timezone.now()
    for days_ago, status in ((3, DeploymentStatus.SUCCEEDED), (2, DeploymentStatus.FAILED), (1, "succeeded")):
        started = now - timedelta(days=days_ago)
        Deployment.objects.create(
            service=service,
            team=service.team,
            tier=Tier.PRODUCTION,
            version=f"1.{days_ago}",
            status=status,
            source=DeploymentSource.PIPELINE,
            started_at=started,
            finished_at=started + timedelta(minutes=5),
            commit_at=started - timedelta(hours=1),
        )

    page = signed_in(Persona.DEVELOPER).get(reverse("deployments:dora"), {"days": "7", "service": str(service.pk)})

    assert page.status_code == 200
    body = text(page)
    assert 'data-metric="change-failure-rate">33%' in body
    assert 'data-metric="lead-time">1 h 05 min' in body
    found = re.search(r'<script id="dora-daily" type="application/json">(.*?)</script>', body)
    assert found is not None
    chart = json.loads(found.group(1))
    assert [dataset["label"] for dataset in chart["datasets"]] == ["Deployments", "Failures"]
    assert sum(chart["datasets"][0]["data"]) == 2
    assert sum(chart["datasets"][1]["data"]) == 1
    assert "vendor/chartjs/chart.umd.min.js" in body


def test_the_cluster_page_shows_its_sync_and_a_developer_starts_one(
    signed_in: Callable[[Persona], Client], demo_cluster: Cluster
) -> None:
    url = reverse("deployments:cluster_sync", kwargs={"pk": demo_cluster.pk})
    client = signed_in(Persona.DEVELOPER)
    cluster_page = reverse(
        "regions:cluster", args=[demo_cluster.region.provider, demo_cluster.region.code, demo_cluster.name]
    )
    assert url in text(client.get(cluster_page))  # the page loads the sync section from here
    assert "Not synced yet." in text(client.get(url))

    started = text(client.post(url, headers={"HX-Request": "true"}))

    run = Run.objects.get(kind="deployments.sync")
    assert run.subject_id == str(demo_cluster.pk)
    assert 'data-sync-status="pending"' in started or 'data-sync-status="running"' in started
    client.post(url, headers={"HX-Request": "true"})
    assert Run.objects.filter(kind="deployments.sync").count() == 1  # one sync at a time
    auditor = signed_in(Persona.AUDITOR)
    assert "Sync now" not in text(auditor.get(url))
