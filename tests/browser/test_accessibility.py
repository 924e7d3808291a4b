"""The main pages pass axe-core's serious and critical checks, for a platform admin and for a developer: in a
real browser, on a platform with data on every page (tests/browser/busy_platform.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from access.models import Team
from tests.browser.axe import assert_pages_accessible, axe_violations
from tests.browser.busy_platform import a_busy_platform

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sign_in_page_and_every_main_page_of_a_platform_admin_pass_axe(
    page: Page, sign_in: Callable[[str], None]
) -> None:
    platform = a_busy_platform()
    team = Team.objects.get(slug="student-experience")
    assert_pages_accessible(page, ["/accounts/login/"])

    sign_in("admin")
    expect(page.get_by_role("heading", name="Platform at a glance")).to_be_visible()
    assert_pages_accessible(
        page,
        [
            "/",
            "/environments/",
            platform.environment,
            "/environments/new/",
            "/environments/templates/",
            "/deployments/",
            platform.service,
            platform.deployment,
            "/costs/",
            "/costs/breakdown/",
            "/regions/",
            platform.region,
            platform.cluster,
            "/regions/requests/new/",
            platform.region_request,
            "/approvals/",
            platform.approval,
            "/access/audit/",
            "/access/",
            "/access/teams/",
            f"/access/teams/{team.pk}/",
            "/access/roles/",
            "/access/grants/",
            "/access/sso-rules/",
            "/access/reviews/",
            "/access/tokens/",
            "/notifications/",
        ],
    )

    page.get_by_role("button", name=re.compile(r"^Account of ")).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert axe_violations(page) == [], "the header's open account menu"


def test_every_main_page_of_a_developer_passes_axe(page: Page, sign_in: Callable[[str], None]) -> None:
    platform = a_busy_platform()

    sign_in("developer")
    expect(page.get_by_role("heading", name="Hello, Dev")).to_be_visible()
    assert_pages_accessible(
        page,
        [
            "/",
            "/environments/",
            platform.environment,
            "/environments/new/",
            "/deployments/",
            platform.service,
            platform.deployment,
            "/costs/",
            "/costs/breakdown/",
            "/regions/",
            platform.region,
            "/approvals/",
            "/access/",
            "/access/tokens/",
            "/notifications/",
        ],
    )
