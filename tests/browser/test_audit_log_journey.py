"""An auditor opens the audit log, filters it in place, opens an event's diff and exports it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from access.audit import services as audit
from tests.browser.axe import axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_auditor_filters_the_audit_log_and_reads_an_events_changes(page: Page, sign_in) -> None:
    audit.record(
        audit.MEMBER_CHANGED,
        object_repr="Dev Patel in Tutor Tools",
        before={"role": "member"},
        after={"role": "lead"},
    )
    sign_in("auditor")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.get_by_role("heading", name="Hash chain")).to_be_visible()

    page.get_by_label("Action").select_option(audit.MEMBER_CHANGED)

    expect(page).to_have_url(re.compile(r"verb=teams.member_changed"))
    rows = page.locator("table.audit-table > tbody > tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_text("1 field").click()
    expect(rows.first.locator("del")).to_have_text("member")
    expect(rows.first.locator("ins")).to_have_text("lead")

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    assert download.value.suggested_filename.startswith("audit-log-")


def test_people_who_may_not_read_the_audit_log_do_not_see_it_in_the_navigation(page: Page, sign_in) -> None:
    sign_in("developer")

    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log")).to_have_count(0)


WIDTHS = "(box) => ({content: box.scrollWidth, box: box.clientWidth})"


def test_an_events_long_and_nested_details_read_in_words_and_wrap_inside_the_log(page: Page, sign_in) -> None:
    pasted = "x" * 2000  # a token pasted without a space
    words = " ".join(["justified"] * 220)
    recorded = audit.record(
        audit.TEMPLATE_CHANGED,
        object_type="environments.environmenttemplate",
        object_repr="Preview",
        before={"description": words, "quota": {"requests.cpu": "8", "pods": "20"}, "ingress_host_pattern": pasted},
        after={"description": "short", "quota": {"requests.cpu": "16", "pods": "20"}, "ingress_host_pattern": "b"},
        pasted=pasted,
        labels={"team": pasted, "owner": words},
    )
    sign_in("auditor")
    page.goto("/access/audit/")
    log = page.locator(".table-responsive").filter(has=page.locator("table.audit-table"))
    widths = log.evaluate(WIDTHS)
    assert widths["content"] <= widths["box"]

    row = page.locator(f"#event-{recorded.pk}")
    row.get_by_text("3 fields").click()

    changes = row.locator("table.audit-changes")
    expect(changes.get_by_role("rowheader")).to_have_text(["Description", "Host pattern", "Quota · requests.cpu"])
    expect(changes.get_by_role("row", name=re.compile("Quota")).locator("del")).to_have_text("8")
    widths = log.evaluate(WIDTHS)
    assert widths["content"] <= widths["box"], f"the expanded event makes the log {widths['content']} px wide"
    assert axe_violations(page) == [], "the audit log with an event's details open"
