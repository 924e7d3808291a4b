"""The pages work under the Content Security Policy: no violation in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Reported by the page itself, so violations the console might word differently are caught too.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def watch(page: Page) -> list[str]:
    console: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            console.append(message.text)

    page.on("console", keep)
    page.add_init_script(RECORD_VIOLATIONS)
    return console


def violations(page: Page, console: list[str]) -> list[str]:
    return [*console, *page.evaluate("window.cspViolations || []")]


def test_the_region_list_filters_in_place_without_a_csp_violation(page: Page, sign_in) -> None:
    console = watch(page)
    sign_in("developer")
    page.goto("/regions/")

    page.get_by_label("Residency zone").select_option("AU")

    expect(page.get_by_role("row", name=re.compile("us-east-1"))).to_have_count(0)
    expect(page).to_have_url(re.compile(r"residency_zone=AU"))
    assert violations(page, console) == []


def test_the_api_docs_load_without_a_csp_violation(page: Page, sign_in) -> None:
    console = watch(page)
    sign_in("developer")

    # A deep link to one operation: Swagger UI draws only the operations in view of a schema this long.
    page.goto("/api/docs/#/regions/regions_list")

    # Swagger UI draws the schema in the browser: give it time on a busy machine.
    expect(page.get_by_text("Platform Portal API").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("/api/regions/").first).to_be_visible(timeout=30_000)
    assert violations(page, console) == []


def test_the_django_admin_loads_without_a_csp_violation(page: Page, sign_in) -> None:
    console = watch(page)
    sign_in("admin")

    page.goto("/admin/access/team/")

    expect(page.get_by_role("heading", name=re.compile("Select team to change"))).to_be_visible()
    assert violations(page, console) == []


def test_a_token_is_created_and_revoked_on_the_page_without_a_csp_violation(page: Page, sign_in) -> None:
    console = watch(page)
    sign_in("developer")
    page.goto("/access/tokens/")

    page.get_by_label("Name").fill("deploy pipeline")
    page.get_by_label("Team", exact=True).select_option(label="Student Experience")
    page.get_by_label("Role").select_option(label="Developer")
    page.get_by_role("button", name="Create token").click()

    token = page.get_by_label("Your new token")
    expect(token).to_have_value(re.compile(r"^ppt_[0-9a-f]{8}_"))
    # The person allowed the clipboard (headless Chromium would otherwise leave the request unanswered).
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token.input_value()
    page.get_by_role("link", name="Revoke deploy pipeline").click()
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    assert violations(page, console) == []
