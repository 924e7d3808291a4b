"""The platform admin grants the developer time-bound access to another team, then revokes it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from access import services
from access.models import SsoRule, Team, User
from tests.fixtures import sign_out

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TUTOR_TOOLS_GRANT = re.compile(r"You hold Developer on team Tutor Tools\s+\(granted to you\)\s+— expires")


def test_an_admin_grants_a_developer_time_bound_access_to_another_team_and_revokes_it(page: Page, sign_in) -> None:
    sign_in("admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Access").click()
    page.get_by_role("link", name=re.compile(r"^Grants —")).click()
    page.get_by_role("link", name="Grant access").click()

    page.get_by_label("Person").select_option(label="Dev Patel (developer)")
    page.get_by_label("Role", exact=True).select_option(label="Developer")
    page.get_by_label("Limit to team").select_option(label="Tutor Tools")
    page.get_by_label("Expires").fill((timezone.localtime() + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Reason").fill("Helping Tutor Tools through exam week.")
    page.get_by_role("button", name="Grant", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text("Granted Developer to developer on team Tutor Tools")
    grant_url = page.url
    sign_out(page)

    sign_in("developer")
    page.goto("/access/")
    expect(page.locator("#held-grants")).to_contain_text(TUTOR_TOOLS_GRANT)
    sign_out(page)

    sign_in("admin")
    page.goto(grant_url)
    page.get_by_role("link", name="Revoke…").click()
    page.get_by_label("Reason").fill("Exam week is over.")
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked Developer from developer")
    sign_out(page)

    sign_in("developer")
    page.goto("/access/")
    expect(page.locator("#held-grants")).to_contain_text("Developer on team Student Experience")
    expect(page.locator("#held-grants")).not_to_contain_text("Tutor Tools")


def test_the_sso_rule_preview_updates_in_place_as_claims_are_typed(page: Page, sign_in) -> None:
    team = Team.objects.get(slug="student-experience")
    SsoRule.objects.create(name="Students", claim="groups", value="eng-students", team=team)
    sign_in("admin")
    page.goto("/access/sso-rules/")

    page.get_by_role("textbox", name="Claims").fill('{"groups": ["eng-students"')
    expect(page.locator("#sso-preview")).to_contain_text("This is not valid JSON")
    page.get_by_role("textbox", name="Claims").fill('{"sub": "1234", "groups": ["eng-students"]}')

    expect(page.locator("#sso-preview")).to_contain_text("Membership: member of Student Experience")
    expect(page).to_have_url(re.compile(r"/access/sso-rules/$"))


def test_a_team_lead_confirms_a_teammates_grant_in_place(page: Page, sign_in) -> None:
    admin = User.objects.get(username="admin")
    services.access_review_open(actor=admin, name="Autumn review", deadline=timezone.now() + timedelta(days=7))
    sign_in("lead")
    page.goto("/access/reviews/mine/")

    row = page.get_by_role("row", name=re.compile("members of Student Experience"))
    row.get_by_role("button", name="Confirm").click()

    expect(row).to_contain_text("Confirmed")
    expect(page).to_have_url(re.compile(r"/access/reviews/mine/$"))
