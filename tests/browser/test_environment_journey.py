"""A developer requests an environment that needs approval, the team lead approves, the developer watches it
provision, opens it and tears it down: in a real browser, with a real Celery worker."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.demo import DEMO_PASSWORD
from regions.models import Cluster
from tests.fixtures import DESKTOP, WorkerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_developer_gets_an_approved_environment_and_tears_it_down(
    page: Page,
    browser: Browser,
    live_server: Any,
    sign_in: Callable[[str], None],
    start_celery_worker: WorkerFactory,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.DATA_DIR = tmp_path
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    cluster = Cluster.objects.get(name="eks-eu-west-1")

    sign_in("developer")
    page.goto("/environments/")
    page.get_by_role("link", name="Request an environment").click()
    page.get_by_label("Name").fill("journey")
    page.get_by_label("Region and cluster").select_option(value=str(cluster.pk))
    page.get_by_label("Lifetime (hours)").fill("100")
    page.get_by_label("Lifetime (hours)").dispatch_event("change")
    expect(page.locator('[data-check="needs-approval"]')).to_contain_text("the team lead's approval")
    expect(page.locator('[data-check="estimate"]')).to_contain_text("USD")
    page.get_by_role("button", name="Request").click()
    expect(page.locator("[data-environment-status]").first).to_have_attribute(
        "data-environment-status", "pending_approval"
    )
    environment_url = page.url

    # The lead decides in their own browser while the developer's page stays open.
    lead = browser.new_context(base_url=live_server.url, viewport=DESKTOP).new_page()
    lead.goto("/accounts/login/")
    lead.get_by_label("Username").fill("lead")
    lead.get_by_label("Password").fill(DEMO_PASSWORD)
    lead.get_by_role("button", name="Sign in").click()
    waiting = lead.get_by_role("region", name="Waiting for your approval")
    expect(waiting.get_by_role("link", name=re.compile(r"Environment journey for Student Experience"))).to_be_visible()
    expect(lead.locator('[data-attention="approvals"]')).to_have_text("1 approval waits")
    lead.goto(environment_url)
    lead.get_by_role("button", name="Approve").click()
    expect(lead.locator("[data-approval-status]")).to_have_attribute("data-approval-status", "approved")
    lead.context.close()

    # The developer's page follows by itself: no reload, no stale "Waiting for approval".
    expect(page.locator("[data-environment-status]").first).to_have_attribute(
        "data-environment-status", "ready", timeout=60_000
    )
    assert page.url == environment_url
    expect(page.locator('[data-section="endpoints"]')).to_contain_text("https://journey.student-experience")
    page.goto("/")
    mine = page.get_by_role("region", name="Your environments")
    expect(mine.get_by_role("row", name=re.compile(r"^journey "))).to_contain_text("Ready")
    page.goto(environment_url)

    page.get_by_role("link", name="Tear down").click()
    page.get_by_label(re.compile("to confirm")).fill("journey")
    page.get_by_role("button", name="Tear down").click()
    expect(page.locator("[data-environment-status]").first).to_have_attribute(
        "data-environment-status", "torn_down", timeout=60_000
    )


def test_the_request_form_opens_valid_for_an_eu_team_and_follows_the_template(
    page: Page, sign_in: Callable[[str], None]
) -> None:
    sign_in("developer")
    page.goto("/environments/new/")

    # The developer's team keeps its data in the EU: the form opens on an EU cluster the check allows.
    chosen = page.get_by_label("Region and cluster").input_value()
    assert Cluster.objects.select_related("region").get(pk=int(chosen)).region.residency_zone == "EU"
    page.get_by_label("Name").fill("defaults")
    page.get_by_label("Name").dispatch_event("keyup")
    expect(page.locator('[data-check="estimate"]')).to_contain_text("USD", timeout=20_000)
    expect(page.locator('[data-check="refused"]')).to_have_count(0)

    # Staging brings its own lifetime; production opens without one and is not refused for it.
    # (A generous wait for each live check: on a busy machine each is a request that prices the environment.)
    page.get_by_label("Template").select_option(label="Staging (full stack)")
    expect(page.get_by_label("Lifetime (hours)")).to_have_value("72", timeout=20_000)
    page.get_by_label("Template").select_option(label="Production")
    expect(page.get_by_label("Lifetime (hours)")).to_have_value("", timeout=20_000)
    expect(page.locator('[data-check="refused"]')).to_have_count(0)
