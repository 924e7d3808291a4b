"""A developer searches from the keyboard: "/" jumps to the header's box, Enter searches, Tab walks the results.
They find their service and their team's environment, never another team's."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from access.models import Team, User
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from regions.models import Cluster

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def environment(name: str, team: str, cluster: str) -> Environment:
    return Environment.objects.create(
        name=name,
        team=Team.objects.get(slug=team),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        tier="development",
        cluster=Cluster.objects.get(name=cluster),
        requested_by=User.objects.get(username="admin"),
        status=EnvironmentStatus.READY,
        monthly_estimate="12.50",
        currency="USD",
    )


def test_a_developer_finds_their_service_and_environment_from_the_keyboard(
    page: Page, sign_in: Callable[[str], None]
) -> None:
    ours = environment("student-portal-preview", "student-experience", "eks-eu-west-1")
    environment("student-portal-tutors", "tutor-tools", "eks-ap-southeast-2")

    sign_in("developer")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    box = page.get_by_role("searchbox", name=re.compile("Search services, environments"))
    expect(box).not_to_be_focused()

    page.keyboard.press("/")
    expect(box).to_be_focused()
    page.keyboard.type("student-port")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/search/\?q=student-port$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Search")
    expect(box).to_have_value("student-port")
    services = page.locator('[data-search-group="services"]')
    environments = page.locator('[data-search-group="environments"]')
    expect(services.get_by_role("heading", level=2)).to_contain_text("Services")
    expect(services.get_by_role("link", name="Student portal")).to_be_visible()
    expect(environments.get_by_role("link", name="student-portal-preview")).to_be_visible()
    expect(environments).to_contain_text("Student Experience · eks-eu-west-1 · Ready")
    expect(page.get_by_text("student-portal-tutors")).to_have_count(0)

    # The results are links, in reading order, reached with Tab from the search button.
    page.get_by_role("button", name="Search").focus()
    links: list[str] = []
    for _ in range(20):
        page.keyboard.press("Tab")
        links.append(page.evaluate("document.activeElement.textContent.trim()"))
        if links[-1] == "student-portal-preview":
            break
    assert "Student portal" in links
    assert links[-1] == "student-portal-preview"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/environments/{ours.pk}/$"))


def test_a_slash_typed_into_a_field_stays_in_that_field(page: Page, sign_in: Callable[[str], None]) -> None:
    sign_in("developer")
    page.goto("/environments/")
    filter_box = page.get_by_label("Search", exact=True)

    filter_box.click()
    page.keyboard.type("a/b")

    expect(filter_box).to_have_value("a/b")
    expect(filter_box).to_be_focused()
    expect(page.get_by_role("searchbox", name=re.compile("Search services"))).to_have_value("")
