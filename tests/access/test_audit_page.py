"""The audit log page: who may open it, filters, keyset pages, the readable diff, CSV export and chain status."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.audit import services as audit
from access.audit import tasks as audit_tasks
from access.audit.views import PAGE_SIZE
from access.models import AuditEvent, Team, User
from portal.celery import app as celery_app
from portal.demo import Persona
from tests.access.tampering import tamper
from tests.factories import GrantFactory, RoleFactory, TeamFactory, UserFactory, audit_events
from tests.helpers import FORMULA_PAYLOADS, formulas_in, queries_for

pytestmark = pytest.mark.shared_demo

AUDIT = reverse("access:audit")
EXPORT = reverse("access:audit-export")
CHAIN = reverse("access:audit-chain")


@pytest.fixture
def auditor(client_for: Callable[[Persona | None], Client]) -> Client:
    return client_for(Persona.AUDITOR)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def exported_rows(response: object) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(body)))


# --- who may open it ---------------------------------------------------------


@pytest.mark.parametrize("who", [Persona.DEVELOPER, Persona.TEAM_LEAD, Persona.MANAGER])
@pytest.mark.parametrize("url", [AUDIT, EXPORT, CHAIN])
def test_people_without_audit_view_are_told_the_page_does_not_exist(
    who: Persona, url: str, client_for: Callable[[Persona | None], Client]
) -> None:
    audit_events(1, object_repr="Secret thing")

    response = client_for(who).get(url)

    assert response.status_code == 404
    assert b"Secret thing" not in response.content


@pytest.mark.parametrize("who", [Persona.DEVELOPER, Persona.TEAM_LEAD, Persona.MANAGER])
def test_people_without_audit_view_cannot_ask_for_a_verification(
    who: Persona, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(who).post(CHAIN)

    assert response.status_code == 404
    assert audit_tasks.chain_status() is None


def test_an_anonymous_visitor_is_sent_to_sign_in_rather_than_asking_for_a_verification(demo: None) -> None:
    response = Client().post(CHAIN)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert audit_tasks.chain_status() is None


def test_someone_who_may_read_but_not_export_is_refused_the_export_with_a_403(demo: None) -> None:
    reader = UserFactory.create()
    GrantFactory.create(user=reader, role=RoleFactory.create(permissions=["audit.view"]))
    client = Client()
    client.force_login(reader)

    assert client.get(AUDIT).status_code == 200
    assert client.get(EXPORT).status_code == 403
    assert not AuditEvent.objects.filter(verb=audit.AUDIT_EXPORTED).exists()


# --- the list ------------------------------------------------------------------


def test_the_auditor_sees_the_newest_events_first(auditor: Client) -> None:
    audit_events(1, object_repr="first thing")
    audit_events(1, object_repr="second thing")

    content = auditor.get(AUDIT).content.decode()

    assert content.index("second thing") < content.index("first thing")


def test_filters_narrow_the_list_by_verb_actor_object_team_request_and_text(
    auditor: Client, persona: Callable[[Persona], User]
) -> None:
    team = Team.objects.get(slug="tutor-tools")
    developer = persona(Persona.DEVELOPER)
    audit.record(audit.TEAM_CHANGED, team, actor=developer, team=team)
    with audit.acting(audit.RequestContext(request_id="req-needle")):
        audit.record(audit.MEMBER_ADDED, object_repr="needle membership")
    audit.record(audit.ROLE_CREATED, object_repr="Unrelated role")

    cases = {
        "verb": ({"verb": audit.MEMBER_ADDED}, "needle membership"),
        "actor": ({"actor": "developer"}, "Tutor Tools"),
        "object": ({"object_type": "access.team", "object_id": str(team.pk)}, "Tutor Tools"),
        "team": ({"team": str(team.pk)}, "Tutor Tools"),
        "request id": ({"request_id": "req-needle"}, "needle membership"),
        "text": ({"q": "NEEDLE"}, "needle membership"),
    }
    for name, (query, expected) in cases.items():
        content = auditor.get(AUDIT, query).content.decode()
        assert expected in content, name
        assert "Unrelated role" not in content, name


def test_a_date_range_keeps_only_events_of_those_days(auditor: Client) -> None:
    audit_events(1, object_repr="today's event")
    today = timezone.localdate()

    assert "today&#x27;s event" in auditor.get(AUDIT, {"occurred_after": today.isoformat()}).content.decode()
    yesterday = (today - timedelta(days=1)).isoformat()
    assert "today&#x27;s event" not in auditor.get(AUDIT, {"occurred_before": yesterday}).content.decode()


def test_a_malformed_filter_is_explained_on_the_page_and_the_input_kept(auditor: Client) -> None:
    response = auditor.get(AUDIT, {"occurred_after": "last tuesday", "verb": "no.such_verb"})

    assert response.status_code == 200
    content = response.content.decode()
    assert "Enter a valid date" in content
    assert "Select a valid choice" in content
    assert 'value="last tuesday"' in content


def test_an_htmx_request_gets_only_the_table(auditor: Client) -> None:
    audit_events(1, object_repr="in the table")

    response = auditor.get(AUDIT, headers={"HX-Request": "true", "HX-Target": "audit-table"})

    content = response.content.decode()
    assert "in the table" in content
    assert "<html" not in content
    assert "Hash chain" not in content


def test_the_export_link_follows_the_filters_of_the_table(auditor: Client) -> None:
    response = auditor.get(
        AUDIT, {"verb": audit.TEAM_CREATED}, headers={"HX-Request": "true", "HX-Target": "audit-table"}
    )

    assert f'href="{EXPORT}?verb=teams.team_created"' in response.content.decode()


def test_pages_follow_each_other_by_keyset_without_gaps_or_repeats(auditor: Client) -> None:
    events = audit_events(PAGE_SIZE * 2 + 5, object_repr="paged")
    seen: list[int] = []
    query: dict[str, str] = {"q": "paged"}

    for _ in range(3):
        response = auditor.get(AUDIT, query)
        page = response.context["page"]
        seen.extend(event.pk for event in page.events)
        if page.older_than is None:
            break
        query = {"q": "paged", "before": str(page.older_than)}

    assert seen == [event.pk for event in reversed(events)]
    back = auditor.get(AUDIT, {"q": "paged", "after": str(seen[PAGE_SIZE])}).context["page"]
    assert [event.pk for event in back.events] == seen[:PAGE_SIZE]
    assert back.newer_than is None


def test_the_list_runs_the_same_number_of_queries_for_many_events(auditor: Client) -> None:
    team = TeamFactory()
    audit_events(3, team=team)
    few = queries_for(auditor, AUDIT)
    audit_events(40, team=TeamFactory())

    assert queries_for(auditor, AUDIT) == few


def test_an_expanded_event_shows_before_and_after_side_by_side_and_its_extra(auditor: Client) -> None:
    audit.record(
        audit.MEMBER_CHANGED,
        object_repr="dev in Tutor Tools",
        before={"role": "member", "note": "same"},
        after={"role": "lead", "note": "same"},
        reason="promotion",
    )

    content = auditor.get(AUDIT).content.decode()

    assert '<tr class="table-warning">' in content  # the changed field stands out
    assert "<del>member</del>" in content
    assert "<ins>lead</ins>" in content
    assert "promotion" in content


def details_of(content: str, event: AuditEvent) -> str:
    """The expanded details of ``event``'s row on the page."""
    row = content.split(f'<tr id="event-{event.pk}">', 1)[1].split("</details>", 1)[0]
    return row.split("<details>", 1)[1]


def test_an_events_details_read_in_words_with_no_python_or_json_literal(auditor: Client) -> None:
    recorded = audit.record(
        audit.TEMPLATE_CHANGED,
        object_type="environments.environmenttemplate",
        object_id="7",
        object_repr="Preview",
        before={
            "quota": {"requests.cpu": "8", "limits.memory": "16Gi"},
            "max_ttl_hours": None,
            "network_default_deny": True,
            "allowed_providers": ["aws"],
            "tier": "staging",
        },
        after={
            "quota": {"requests.cpu": "16", "limits.memory": "16Gi"},
            "max_ttl_hours": 72,
            "network_default_deny": False,
            "allowed_providers": ["aws", "azure"],
            "tier": "production",
        },
        filters={"verb": "x", "mine": True, "since": None},
        regions=[{"code": "eu-west-1"}, {"code": "westeurope"}],
    )

    content = auditor.get(AUDIT).content.decode()
    details = details_of(content, recorded)

    row = content.split(f'<tr id="event-{recorded.pk}">', 1)[1].split("<details>", 1)[0]
    assert 'title="environments.environmenttemplate">Environment template #7</span>' in row
    for literal in ["{'", "{&#x27;", "['", "[&#x27;", "True", "False", "None", "&quot;", '{"', "null"]:
        assert literal not in details, literal
    assert '<th scope="row" title="max_ttl_hours">Maximum lifetime (hours)</th>' in details
    assert '<th scope="row" title="quota">Quota · <span class="audit-key">requests.cpu</span></th>' in details
    assert "<del>8</del>" in details
    assert "<ins>16</ins>" in details
    assert "limits.memory" not in details  # unchanged inside the quota: no row
    assert "<del>Yes</del>" in details
    assert "<ins>No</ins>" in details
    assert "<ins>AWS, Azure</ins>" in details
    assert "<del>Staging</del>" in details
    assert '<dt title="filters">Filters</dt>' in details
    assert "<dt>mine</dt><dd>Yes</dd>" in details
    assert "<summary>5 fields</summary>" in details  # the quota's one changed key, and four fields


def test_an_events_details_show_what_people_typed_as_text_never_as_markup(auditor: Client) -> None:
    script = "<script>alert(1)</script>"
    typed_by_people: dict[str, Any] = {script: script}
    recorded = audit.record(
        audit.TEAM_CHANGED,
        object_repr="Tutor Tools",
        before={"description": "fine", "labels": {script: "a"}},
        after={"description": script, "labels": {script: "b"}},
        reason=script,
        **typed_by_people,
    )

    details = details_of(auditor.get(AUDIT).content.decode(), recorded)

    assert "<script" not in details
    assert (
        details.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 6
    )  # a value, a key in a dict, the reason, and the extra key (label and title) and value


# --- CSV export ------------------------------------------------------------------


def test_the_export_streams_the_filtered_events_as_csv(auditor: Client) -> None:
    audit_events(3, verb=audit.TEAM_CREATED, object_repr="wanted")
    audit_events(2, verb=audit.ROLE_CREATED, object_repr="not wanted")

    response = auditor.get(EXPORT, {"verb": audit.TEAM_CREATED})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = exported_rows(response)
    assert [row["object"] for row in rows] == ["wanted"] * 3
    assert {row["verb"] for row in rows} == {audit.TEAM_CREATED}


def test_exported_cells_that_a_spreadsheet_would_run_as_formulas_are_made_text(auditor: Client) -> None:
    for dangerous in ['=HYPERLINK("http://evil")', "+1", "-2", "@SUM(A1)"]:
        audit.record(audit.TEAM_CHANGED, object_repr=dangerous)

    rows = exported_rows(auditor.get(EXPORT, {"verb": audit.TEAM_CHANGED}))

    assert sorted(row["object"] for row in rows) == sorted(['\'=HYPERLINK("http://evil")', "'+1", "'-2", "'@SUM(A1)"])


def test_no_exported_cell_is_a_formula_to_a_spreadsheet_of_any_locale(auditor: Client) -> None:
    for payload in FORMULA_PAYLOADS:
        audit.record(audit.TEAM_CHANGED, object_repr=payload, after={"name": payload})

    response = auditor.get(EXPORT, {"verb": audit.TEAM_CHANGED})

    assert formulas_in(b"".join(response.streaming_content).decode()) == []  # type: ignore[attr-defined]


def test_the_export_is_itself_audited_with_the_filters_used_and_does_not_include_itself(
    auditor: Client, persona: Callable[[Persona], User]
) -> None:
    audit_events(2, verb=audit.TEAM_CREATED)

    rows = exported_rows(auditor.get(EXPORT, {"verb": audit.TEAM_CREATED, "q": "x"}))
    rows_all = exported_rows(auditor.get(EXPORT))

    exports = AuditEvent.objects.filter(verb=audit.AUDIT_EXPORTED).order_by("pk")
    assert exports.count() == 2
    first = exports[0]
    assert first.actor == persona(Persona.AUDITOR)
    assert first.extra == {"filters": {"verb": audit.TEAM_CREATED, "q": "x"}}
    assert first.request_id
    assert rows == []  # nothing matched "x"
    assert str(exports[1].pk) not in {row["id"] for row in rows_all}
    assert str(first.pk) in {row["id"] for row in rows_all}


def test_an_export_with_a_malformed_filter_exports_nothing_and_says_why(auditor: Client) -> None:
    response = auditor.get(EXPORT, {"occurred_after": "soon"})

    assert response.status_code == 400
    assert "Enter a valid date" in response.content.decode()
    assert not AuditEvent.objects.filter(verb=audit.AUDIT_EXPORTED).exists()


def test_the_export_reads_rows_in_chunks_rather_than_all_at_once(auditor: Client) -> None:
    audit_events(5, verb=audit.ROLE_CHANGED)
    response = auditor.get(EXPORT, {"verb": audit.ROLE_CHANGED})
    lines = iter(response.streaming_content)  # type: ignore[attr-defined]

    header = next(lines)
    assert header.startswith(b"id,occurred_at,actor,verb")
    # The server-side cursor is open: rows are fetched as the response is read.
    assert sum(1 for _ in lines) == 5


# --- the chain status ----------------------------------------------------------


def test_the_page_says_the_chain_was_never_verified_and_offers_to_verify(auditor: Client) -> None:
    content = auditor.get(AUDIT).content.decode()

    assert "Not verified yet" in content
    assert "Verify now" in content


def test_the_page_shows_the_last_verification_and_when_it_ran(auditor: Client) -> None:
    audit_events(3)
    audit_tasks.verify_audit_chain.run()

    content = auditor.get(AUDIT).content.decode()

    assert "Verifies" in content
    assert f"{AuditEvent.objects.count()} events" in content
    assert "Last verified" in content
    assert f"Signed checkpoint outside the database at event #{AuditEvent.objects.order_by('pk').last().pk}" in content  # type: ignore[union-attr]


def test_a_broken_chain_is_shown_with_its_first_bad_event_and_why(auditor: Client) -> None:
    events = audit_events(3)
    tamper("UPDATE access_auditevent SET object_repr = 'forged' WHERE id = %s", [events[1].pk])
    audit_tasks.verify_audit_chain.run()

    content = auditor.get(AUDIT).content.decode()

    assert "Broken" in content
    assert f"#{events[1].pk}" in content
    assert "its contents were changed after it was written" in content


def test_verify_now_without_htmx_goes_back_to_the_page(auditor: Client) -> None:
    cache.add(audit_tasks.REQUESTED_KEY, timezone.now())  # one is already awaited: nothing is enqueued

    response = auditor.post(CHAIN)

    assert response.status_code == 302
    assert response["Location"] == AUDIT


def test_beat_verifies_the_chain_on_a_schedule_with_a_task_the_worker_knows() -> None:
    from django.conf import settings

    celery_app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["audit-verify-chain"]

    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] == settings.AUDIT_VERIFY_SECONDS
