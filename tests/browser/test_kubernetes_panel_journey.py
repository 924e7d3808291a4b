"""A developer whose release misbehaves opens the workload's Kubernetes panel from the deployment page: in a real
browser, the pods, their events and the crash-looping container's log (and its previous instance) from the
(sandbox) cluster, a log line of markup shown as text, in a box that scrolls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from deployments.models import Deployment
from providers.sandbox.cluster import SandboxClusterDriver
from regions.drivers import cluster_driver_for
from regions.models import Cluster
from tests.browser.test_rollback_journey import NAMESPACE, a_failing_release
from tests.deployments.cluster_objects import IMAGES, seed_deployment
from tests.providers import live_objects

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CRASHING = "checkout-hash2-ccccc"
HOSTILE = "<script>window.owned = true</script><b>bold?</b>"


def test_a_developer_reads_a_crash_looping_pods_events_and_logs_from_the_deployment_page(
    page: Page, sign_in: Any, settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path
    cluster = Cluster.objects.select_related("region__account").get(name="eks-eu-west-1")
    driver = cluster_driver_for(cluster)
    assert isinstance(driver, SandboxClusterDriver)
    seed_deployment(driver.seed, NAMESPACE, "checkout", IMAGES, ready=1)
    driver.seed(live_objects.pod(NAMESPACE, "checkout-hash2-aaaaa", {"app": "checkout"}, containers=("checkout",)))
    driver.seed(
        live_objects.pod(
            NAMESPACE,
            CRASHING,
            {"app": "checkout"},
            containers=("checkout",),
            waiting="CrashLoopBackOff",
            restarts=4,
            last_terminated="Error",
        )
    )
    driver.seed(live_objects.event(NAMESPACE, "Pod", CRASHING, "BackOff", warning=True, count=17))
    lines = [f"GET /api/cart/{number} 200" for number in range(150)]
    driver.seed_logs(
        [
            (NAMESPACE, CRASHING, "checkout", "\n".join([*lines, HOSTILE, "KeyError: 'PAYMENT_URL'"]), False),
            (NAMESPACE, CRASHING, "checkout", "the run before: OOMKilled\n", True),
        ]
    )
    a_failing_release(cluster)
    deployment = Deployment.objects.get(version="1.4.0")

    sign_in("developer")
    page.goto(f"/deployments/{deployment.pk}/")
    page.locator("[data-workloads]").get_by_role("link", name="Kubernetes").click()

    panel = page.locator("[data-kubernetes-panel]")
    expect(panel.locator("[data-pods] tbody tr")).to_have_count(2)
    expect(panel.locator(f'tr[data-pod="{CRASHING}"]')).to_contain_text("CrashLoopBackOff")
    expect(panel.locator('tr[data-event="BackOff"]')).to_contain_text("17")

    log = panel.locator('[data-container-log="checkout"] pre')
    expect(log).to_contain_text("KeyError: 'PAYMENT_URL'")
    expect(log).to_contain_text(HOSTILE)  # markup in a log is text
    assert page.evaluate("window.owned") is None
    assert log.evaluate("pre => getComputedStyle(pre).overflowY") == "auto"
    assert log.evaluate("pre => pre.scrollHeight > pre.clientHeight"), "a long log scrolls inside its box"

    panel.get_by_role("button", name="Previous instance").click()
    expect(panel.locator('[data-container-log="checkout"][data-previous] pre')).to_contain_text("OOMKilled")
    page.screenshot(path=str(tmp_path / "kubernetes-panel.png"), full_page=True)
