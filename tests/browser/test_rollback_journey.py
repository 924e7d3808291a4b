"""A team lead finds a failing deployment from the version matrix and rolls it back: in a real browser,
with a real Celery worker rolling the workload back in the (sandbox) cluster."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from access.models import Team, Tier, User
from deployments.choices import DeploymentSource, DeploymentStatus, Health
from deployments.services import Target, record_deployment
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona, username_of
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.deployments.cluster_objects import IMAGES, seed_deployment
from tests.factories import make_service, make_workload
from tests.fixtures import WorkerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAMESPACE = "checkout-staging-core-services"


def a_failing_release(cluster: Cluster) -> None:
    """Checkout 1.4.0 went to staging an hour ago and is failing; 1.3.0 ran well before it."""
    team = Team.objects.get(slug="student-experience")
    environment = Environment.objects.create(
        name="checkout-staging",
        team=team,
        template=EnvironmentTemplate.objects.get(slug="staging"),
        tier=Tier.STAGING,
        cluster=cluster,
        requested_by=User.objects.get(username=username_of(Persona.DEVELOPER)),
        status=EnvironmentStatus.READY,
        monthly_estimate=Decimal(400),
        currency="USD",
    )
    service = make_service(slug="checkout", name="Checkout", team=team)
    workload = make_workload(
        cluster=cluster,
        namespace=NAMESPACE,
        name="checkout",
        service=service,
        environment=environment,
        team=team,
        tier=Tier.STAGING,
        images=IMAGES[-1:],
        version="1.4.0",
        revision=2,
        replicas_ready=0,
        health=Health.DEGRADED,
    )
    target = Target(service=service, environment=environment, cluster=cluster, namespace=NAMESPACE, workload=workload)
    now = timezone.now()
    record_deployment(
        target,
        version="1.3.0",
        source=DeploymentSource.PIPELINE,
        started_at=now - timedelta(days=2),
        status=DeploymentStatus.SUCCEEDED,
    )
    record_deployment(
        target,
        version="1.4.0",
        source=DeploymentSource.PIPELINE,
        started_at=now - timedelta(hours=1),
        status=DeploymentStatus.FAILED,
        triggered_by="dev",
    )


def test_a_lead_finds_a_failing_deployment_in_the_matrix_and_rolls_it_back(
    page: Page,
    sign_in: Any,
    start_celery_worker: WorkerFactory,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.DATA_DIR = tmp_path
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, NAMESPACE, "checkout", IMAGES, ready=0)
    a_failing_release(cluster)

    sign_in("lead")
    page.goto("/deployments/")
    row = page.locator('tr[data-service="checkout"]')
    expect(row.locator("td[data-version]")).to_contain_text("1.4.0")
    expect(row).to_contain_text("Degraded")
    # The cell's version opens the deployment that put it there.
    row.locator("td[data-version]").get_by_role("link", name="1.4.0").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Checkout 1.4.0")
    page.locator("[data-workloads]").get_by_role("link", name="Roll back").click()
    rollback_form = page.url

    page.get_by_label("Go back to").select_option(value="1")
    page.get_by_label("Why").fill("1.4.0 answers 500 on every checkout")
    page.get_by_role("button", name="Roll back").click()

    expect(page.locator("[data-rollback-status]")).to_have_attribute(
        "data-rollback-status", "succeeded", timeout=60_000
    )
    (running,) = driver.objects("Deployment", NAMESPACE)
    assert running["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGES[0]

    page.goto("/deployments/")
    expect(page.locator('tr[data-service="checkout"] td[data-version]')).to_contain_text("1.3.0")

    # 1.3.0 runs now: the form no longer offers to go back to it.
    page.goto(rollback_form)
    expect(page.get_by_text("now running 1.3.0")).to_be_visible()
    expect(page.get_by_label("Go back to").locator('option[value="1"]')).to_have_count(0)
