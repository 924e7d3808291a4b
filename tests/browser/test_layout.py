"""The layout holds on a phone and on a desktop screen: in a real browser, on a platform with wide tables and
a 2,000-character justification without a space (tests/browser/busy_platform.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.axe import axe_violations, wait_until_settled
from tests.browser.busy_platform import a_busy_platform

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}
SECTIONS = ["Environments", "Deployments", "Scorecards", "Costs", "Regions", "Access", "Audit log"]
# What the header keeps free for a search box between the sections and the user's links (or holds one in).
SEARCH_BOX_ROOM = 14 * 16

PAGE_WIDTH = "() => ({page: document.documentElement.scrollWidth, screen: window.innerWidth})"


def test_on_a_phone_no_page_scrolls_sideways_and_the_menu_button_opens_everything(
    page: Page, sign_in: Callable[[str], None]
) -> None:
    platform = a_busy_platform()
    page.set_viewport_size(PHONE)
    sign_in("admin")
    expect(page.get_by_role("heading", name="Platform at a glance")).to_be_visible()

    wider = []
    for path in [
        "/deployments/",
        "/costs/breakdown/",
        "/environments/",
        "/access/audit/",
        platform.environment,
        platform.region_request,
        platform.approval,
        "/approvals/",
    ]:
        page.goto(path)
        wait_until_settled(page)
        width = page.evaluate(PAGE_WIDTH)
        if width["page"] > width["screen"]:
            wider.append(f"{path} is {width['page']} px wide on a {width['screen']} px screen")
    assert wider == []

    # The version matrix is wider than the phone: it scrolls in its own box, which the keyboard can scroll too.
    page.goto("/deployments/")
    matrix = page.locator(".table-responsive").filter(has=page.locator("[data-matrix]"))
    assert matrix.evaluate("(box) => box.scrollWidth > box.clientWidth + 100")
    expect(matrix).to_have_attribute("tabindex", "0")
    expect(matrix).to_have_attribute("aria-label", re.compile(r"scrolls sideways"))

    menu = page.get_by_role("button", name="Menu")
    sign_out = page.get_by_role("button", name="Sign out")
    navigation = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(navigation.get_by_role("link", name="Environments")).to_be_hidden()
    expect(sign_out).to_be_hidden()

    menu.click()

    expect(menu).to_have_attribute("aria-expanded", "true")
    for section in SECTIONS:
        expect(navigation.get_by_role("link", name=section, exact=True)).to_be_visible()
    for link in ["Approvals", "Notifications", "API tokens"]:
        expect(navigation.get_by_role("link", name=re.compile(rf"^{link}"))).to_be_visible()
    expect(navigation).to_contain_text("Signed in as Ada Nakamura")
    expect(sign_out).to_be_in_viewport()
    assert page.evaluate(PAGE_WIDTH)["page"] <= PHONE["width"]
    assert axe_violations(page) == [], "the header's open menu"

    sign_out.click()

    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


def test_on_a_desktop_the_admins_header_is_one_row_with_room_for_a_search_box(
    page: Page, sign_in: Callable[[str], None]
) -> None:
    sign_in("admin")
    expect(page.get_by_role("heading", name="Platform at a glance")).to_be_visible()
    navigation = page.get_by_role("navigation", name="Main")
    account = page.get_by_role("button", name="Account of Ada Nakamura")

    # 1440 px, the user's screen, and 1400 px, the narrowest that shows the header unfolded.
    for width in (1440, 1400):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/access/audit/")
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        parts = [
            page.get_by_role("link", name="Platform Portal"),
            *(navigation.get_by_role("link", name=section, exact=True) for section in SECTIONS),
            navigation.get_by_role("link", name="Approvals"),
            navigation.get_by_role("link", name=re.compile(r"^Notifications")),
            account,
        ]
        boxes = [part.bounding_box() for part in parts]
        assert all(box is not None for box in boxes), f"at {width} px a part of the header is not shown"
        tops, bottoms = [box["y"] for box in boxes], [box["y"] + box["height"] for box in boxes]  # type: ignore[index]
        assert max(tops) < min(bottoms), f"at {width} px the header's parts are not on one row"
        header = page.locator("header").bounding_box()
        assert header is not None
        assert header["height"] < 70, f"at {width} px the header is {header['height']} px high"
        assert page.evaluate(PAGE_WIDTH)["page"] <= width, f"at {width} px the header is wider than the screen"
        last_section, approvals = boxes[len(SECTIONS)], boxes[len(SECTIONS) + 1]
        room = approvals["x"] - (last_section["x"] + last_section["width"])  # type: ignore[index]
        assert room >= SEARCH_BOX_ROOM, f"at {width} px only {room} px are left for a search box"

    account.click()

    expect(navigation.get_by_role("link", name="API tokens")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
