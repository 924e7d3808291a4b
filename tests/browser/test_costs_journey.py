"""A manager opens the cost overview, drills into a team, and exports what they see as CSV: in a real browser."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.costs.cost_world import PLATFORM, STUDENTS, load_rows, row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_drills_from_the_overview_into_a_team_and_exports_its_costs(
    page: Page, sign_in: Callable[[str], None], tmp_path: Path
) -> None:
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(5)]
    portal = {"portal:service": "student-portal"}
    load_rows(
        [row(day, "10.00", team=STUDENTS, Tags=portal) for day in days]
        + [row(day, "2.50", team=STUDENTS, ServiceName="Amazon Simple Storage Service") for day in days]
        + [row(day, "4.00", team=PLATFORM) for day in days]
        + [row(day, "1.00") for day in days]
    )

    sign_in("manager")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Costs", exact=True).click()

    expect(page.get_by_role("heading", name="Costs", exact=True)).to_be_visible()
    expect(page.locator('[data-figure="this-month"]').first).not_to_have_text("0.00")
    expect(page.locator("canvas[data-chart]").first).to_be_visible()
    expect(page.locator('[data-section="movers"]')).to_contain_text("Student Experience")

    page.get_by_role("link", name="Break costs down").click()
    expect(page.locator('[data-section="breakdown"]')).to_contain_text("Core Platform")
    page.locator('[data-section="breakdown"]').get_by_role("link", name="Student Experience").click()

    expect(page).to_have_url(re.compile(rf"team={STUDENTS}"))
    table = page.locator('[data-section="breakdown"]')
    expect(table).to_contain_text("Student portal")
    expect(table).to_contain_text("(no service)")
    expect(table).not_to_contain_text("Core Platform")
    expect(page.locator('[data-section="filters"]')).to_contain_text("Team: Student Experience")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").first.click()
    saved = tmp_path / "costs.csv"
    download.value.save_as(saved)
    lines = list(csv.DictReader(io.StringIO(saved.read_text())))

    assert download.value.suggested_filename.startswith("costs-totals-by-service-")
    assert {line["service"]: Decimal(line["effective_cost"]) for line in lines} == {
        "student-portal": Decimal("10.00") * len(days),
        "": Decimal("2.50") * len(days),
    }
    assert {line["currency"] for line in lines} == {"USD"}
