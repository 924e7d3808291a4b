"""A platform admin tightens a scorecard rule in a real browser, and a developer sees what it means for their
service: a real Celery worker evaluates the services again once the rule is saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from scorecards.models import Scorecard, ServiceScore
from scorecards.services import scorecards_evaluate
from tests.fixtures import WorkerFactory, sign_out
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_tightens_a_rule_and_a_developer_sees_their_service_drop_a_level(
    page: Page, sign_in: Any, start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    scorecards_evaluate()
    readiness = Scorecard.objects.get(name="Production readiness")

    sign_in("admin")
    page.goto(f"/scorecards/{readiness.pk}/")
    page.locator('[data-rule-level="silver"]').get_by_role(
        "link", name="Edit Deployed to production within 14 days"
    ).click()
    # Only the threshold of the chosen check is shown.
    expect(page.get_by_label("Within how many days")).to_be_visible()
    expect(page.get_by_label("Change failure rate under (%)")).to_be_hidden()
    page.get_by_label("Within how many days").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Give a whole number of days from 1 to 365, e.g. 14.").first).to_be_visible()
    page.get_by_label("Within how many days").fill("1")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Rule “Deployed to production within 1 day” saved.")).to_be_visible()
    sign_out(page)

    # The worker evaluates the services again once the rule is saved (a page shows what was last evaluated).
    portal = ServiceScore.objects.filter(service__slug="student-portal", scorecard=readiness)
    wait_until(lambda: portal.filter(level="bronze").exists(), timeout=60)

    sign_in("developer")
    page.goto("/deployments/services/")
    row = page.locator('tr[data-service="student-portal"]')
    expect(row.locator(f'td[data-scorecard="{readiness.pk}"]')).to_contain_text("Bronze")
    row.get_by_role("link", name="Student portal").click()
    card = page.locator(f'[data-card="{readiness.pk}"]')
    expect(card.locator("[data-card-level]")).to_contain_text("Bronze")
    expect(card).to_contain_text("(rule: within 1 day)")
    expect(card.locator("[data-next-level]")).to_contain_text("To reach Silver: Deployed to production within 1 day")
    expect(card.locator("canvas[data-chart]")).to_be_visible()
