"""A person signs in through the real form and finds the region list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_developer_signs_in_and_opens_the_region_list(page: Page, sign_in) -> None:
    sign_in("developer")

    expect(page.get_by_role("heading", name="Hello, Dev")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Regions").click()

    expect(page).to_have_url(re.compile(r"/regions/$"))
    expect(page.get_by_role("heading", name="Regions")).to_be_visible()
    row = page.get_by_role("row", name=re.compile(r"^Europe \(Ireland\) eu-west-1"))
    expect(row).to_contain_text("EU")
    expect(row).to_contain_text("eu-central-1")


def test_filtering_the_region_list_by_zone_updates_the_table_in_place(page: Page, sign_in) -> None:
    sign_in("manager")
    page.goto("/regions/")

    page.get_by_label("Residency zone").select_option("AU")

    expect(page.get_by_role("row", name=re.compile("us-east-1"))).to_have_count(0)
    expect(page.get_by_role("row", name=re.compile(r"^Asia Pacific \(Sydney\) ap-southeast-2"))).to_have_count(1)
    expect(page).to_have_url(re.compile(r"residency_zone=AU"))


def test_a_wrong_password_is_refused_on_the_page(page: Page, demo) -> None:
    # Not a demo user: failures count towards a lockout that outlives the test run (Redis keeps it).
    page.goto("/sign-in/")
    page.get_by_label("Username").fill("someone-who-forgot")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("username and/or password you specified are not correct")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_label("Username")).to_have_value("someone-who-forgot")


def test_signing_out_returns_to_the_sign_in_page(page: Page, sign_in) -> None:
    sign_in("manager")

    page.get_by_role("button", name="Account of Marco Rossi").click()
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
