"""A platform admin asks for a new region, a second admin reviews its plan and approves it, and both watch the
region come up: in a real browser, with a real Celery worker building it on the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from regions.models import Region, RegionRequest
from regions.plan import region_plan
from tests.factories import PASSWORD
from tests.fixtures import WorkerFactory, sign_out
from tests.regions.test_region_build import second_admin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_reviews_a_region_plan_approves_it_and_watches_the_region_come_up(
    page: Page,
    sign_in: Callable[[str], None],
    start_celery_worker: WorkerFactory,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.DATA_DIR = tmp_path
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    reviewer = second_admin()

    sign_in("admin")
    page.goto("/regions/requests/")
    page.get_by_role("link", name="Request a region").click()
    page.get_by_label("Cloud region", exact=True).select_option(value="eu-south-1")
    # The region brings its zone and a partner in it, and the plan with its estimate follows before anything is sent.
    preview = page.locator("#plan-preview")
    # (The live checks get a generous wait: on a busy machine each is a request that prices a whole plan.)
    expect(preview.locator('tr[data-kind="network"]')).to_contain_text("portal-eu-south-1-network", timeout=20_000)
    expect(page.get_by_label("Residency zone")).to_have_value("EU")
    expect(preview.locator("[data-plan-total]")).to_contain_text("USD")
    page.get_by_label("Residency zone").select_option(value="US")
    expect(preview.locator("[data-plan-waiting]")).to_contain_text("not US", timeout=20_000)
    page.get_by_label("DR partner region").select_option(value="eu-west-3")
    page.get_by_label("Justification").fill("Students in Italy need low latency.")
    page.get_by_role("button", name="Request the region").click()
    # The residency zone is checked against where eu-south-1 really is; the input stays.
    expect(page.locator('[data-error-for="residency_zone"]')).to_have_text(
        "eu-south-1 lies in the European Union (EU) zone, not US."
    )
    expect(page.get_by_label("Justification")).to_have_value("Students in Italy need low latency.")
    page.get_by_label("Residency zone").select_option(value="EU")
    page.get_by_role("button", name="Request the region").click()
    expect(page.locator("[data-request-status]").first).to_have_attribute("data-request-status", "pending_approval")
    request_url = page.url
    # The requester sees the plan but may not approve their own request.
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    sign_out(page)

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(reviewer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(request_url)
    plan = page.locator('[data-section="plan"]')
    expect(plan.locator('tr[data-kind="network"]')).to_contain_text("portal-eu-south-1-network")
    expect(plan.locator('tr[data-kind="database_replica"]')).to_contain_text("eu-west-3")
    expect(plan.locator('tr[data-kind="namespace"]')).to_have_count(6)
    expect(page.locator("[data-plan-total]")).to_contain_text("USD")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export the plan (JSON)").click()
    assert download.value.suggested_filename == "region-plan-aws-eu-south-1.json"

    page.get_by_role("button", name="Approve").click()
    expect(page.locator("[data-approval-status]")).to_have_attribute("data-approval-status", "approved")
    # The last approval settles the request: the whole page follows, not only the approval panel.
    expect(page.locator("[data-request-status]").first).not_to_have_attribute(
        "data-request-status", "pending_approval", timeout=20_000
    )
    expect(page.get_by_role("button", name="Cancel the request")).to_have_count(0)
    assert page.url == request_url
    # The progress list polls while the build runs and reloads the page when it ends.
    expect(page.locator("[data-request-status]").first).to_have_attribute(
        "data-request-status", "ready", timeout=90_000
    )
    expect(page.locator("[data-run-status]")).to_have_attribute("data-run-status", "succeeded")
    # One step per planned resource (the form's default capacity: the general pool only).
    planned = region_plan(RegionRequest.objects.get(provider="aws", code="eu-south-1")).resources
    assert [item.kind for item in planned].count("node_pool") == 1
    expect(page.locator('[data-step-status="succeeded"]')).to_have_count(len(planned))
    page.get_by_role("link", name="Europe (Milan) (eu-south-1)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("eu-south-1")
    region = Region.objects.get(provider="aws", code="eu-south-1")
    assert region.status == "active"
    assert region.dr_partner is not None
