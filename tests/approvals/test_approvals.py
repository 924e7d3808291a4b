"""Approvals: the policy decides who may approve, nobody approves their own request, two-person rules hold,
every step is audited and the right people are told."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client

from access.models import AuditEvent, Role, User
from approvals import services
from approvals.models import ApprovalRequest, ApprovalStatus
from approvals.signals import decided
from notifications.models import Notification
from portal.demo import Persona
from regions.models import Region
from tests.factories import GrantFactory, RoleFactory, UserFactory

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

People = Callable[[Persona], User]


@pytest.fixture
def region(demo: None) -> Region:
    return Region.objects.get(provider="aws", code="eu-west-1")


@pytest.fixture
def second_admin(demo: None) -> User:
    admin: User = UserFactory.create(username="second-admin")
    GrantFactory.create(user=admin, role=Role.objects.get(slug="platform_admin"))
    return admin


@pytest.fixture
def outcomes() -> Iterator[list[tuple[int, bool]]]:
    """What the ``decided`` signal told its listeners: (request id, approved)."""
    heard: list[tuple[int, bool]] = []

    def listen(sender: Any, request: ApprovalRequest, approved: bool, **_: Any) -> None:
        heard.append((request.pk, approved))

    decided.connect(listen)
    yield heard
    decided.disconnect(listen)


def ask(region: Region, requester: User, required: int = 1) -> ApprovalRequest:
    return services.request_approval(
        region,
        purpose="regions.build",
        requested_by=requester,
        summary=f"Build {region.code}",
        reasons=["Production regions need two platform admins."],
        url=f"/regions/{region.pk}/",
        required_approvals=required,
    )


def test_approvers_are_who_the_policy_lets_approve_the_subject(region: Region, persona: People) -> None:
    eu_approver = UserFactory.create(username="eu-approver")
    GrantFactory.create(user=eu_approver, role=RoleFactory.create(permissions=["inventory.*"]), zone="EU")
    us_approver = UserFactory.create(username="us-approver")
    GrantFactory.create(user=us_approver, role=RoleFactory.create(permissions=["inventory.*"]), zone="US")

    approvers = services.approvers_of(region, excluding=persona(Persona.DEVELOPER))

    names = {user.username for user in approvers}
    assert "eu-approver" in names
    assert persona(Persona.PLATFORM_ADMIN).username in names
    assert "us-approver" not in names, "a grant limited to the US zone does not cover an EU region"
    assert persona(Persona.DEVELOPER).username not in names


def test_asking_opens_one_request_audits_it_and_tells_the_approvers_but_not_the_asker(
    region: Region, persona: People
) -> None:
    developer, admin = persona(Persona.DEVELOPER), persona(Persona.PLATFORM_ADMIN)

    request = ask(region, developer)
    again = ask(region, developer)

    assert again.pk == request.pk
    assert ApprovalRequest.objects.count() == 1
    event = AuditEvent.objects.get(verb="approvals.requested")
    assert (event.actor, event.object_id) == (developer, str(request.pk))
    told = Notification.objects.filter(kind="approvals.requested")
    assert admin in {notification.recipient for notification in told}
    assert developer not in {notification.recipient for notification in told}
    assert {notification.url for notification in told} == {f"/regions/{region.pk}/"}


def test_nobody_approves_their_own_request(region: Region, persona: People) -> None:
    admin = persona(Persona.PLATFORM_ADMIN)
    request = ask(region, admin)

    with pytest.raises(ValidationError, match=r"You asked for this; someone else must decide it\."):
        services.decide(request.pk, approver=admin, approve=True)

    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.PENDING


def test_someone_the_policy_does_not_let_approve_is_refused(region: Region, persona: People) -> None:
    request = ask(region, persona(Persona.PLATFORM_ADMIN))

    with pytest.raises(PermissionDenied):
        services.decide(request.pk, approver=persona(Persona.TEAM_LEAD), approve=True)


def test_one_approval_settles_a_request_that_needs_one_and_the_asker_hears_of_it(
    region: Region, persona: People, outcomes: list[tuple[int, bool]]
) -> None:
    developer, admin = persona(Persona.DEVELOPER), persona(Persona.PLATFORM_ADMIN)
    request = ask(region, developer)

    request = services.decide(request.pk, approver=admin, approve=True, reason="Looks right.")

    assert request.status == ApprovalStatus.APPROVED
    assert outcomes == [(request.pk, True)]
    event = AuditEvent.objects.get(verb="approvals.approved")
    assert event.actor == admin
    assert event.after == {"status": "approved", "approvals": "1 of 1"}
    assert Notification.objects.filter(recipient=developer, kind="approvals.approved").exists()


def test_two_person_approval_needs_two_different_people(
    region: Region, persona: People, second_admin: User, outcomes: list[tuple[int, bool]]
) -> None:
    admin = persona(Persona.PLATFORM_ADMIN)
    request = ask(region, persona(Persona.DEVELOPER), required=2)

    services.decide(request.pk, approver=admin, approve=True)
    with pytest.raises(ValidationError, match="already decided this request; it needs another approver"):
        services.decide(request.pk, approver=admin, approve=True)
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.PENDING
    assert outcomes == []

    request = services.decide(request.pk, approver=second_admin, approve=True)

    assert request.status == ApprovalStatus.APPROVED
    assert outcomes == [(request.pk, True)]


def test_a_rejection_needs_a_reason_ends_the_request_and_reaches_the_asker(
    region: Region, persona: People, outcomes: list[tuple[int, bool]]
) -> None:
    developer, admin = persona(Persona.DEVELOPER), persona(Persona.PLATFORM_ADMIN)
    request = ask(region, developer, required=2)

    with pytest.raises(ValidationError) as refused:
        services.decide(request.pk, approver=admin, approve=False, reason="  ")
    assert refused.value.message_dict == {"reason": ["Say why you reject it: the requester reads this."]}

    request = services.decide(request.pk, approver=admin, approve=False, reason="EU data cannot go there.")

    assert request.status == ApprovalStatus.REJECTED
    assert outcomes == [(request.pk, False)]
    told = Notification.objects.get(recipient=developer, kind="approvals.rejected")
    assert "EU data cannot go there." in told.body


def test_a_decided_request_stays_decided(region: Region, persona: People, second_admin: User) -> None:
    request = ask(region, persona(Persona.DEVELOPER))
    services.decide(request.pk, approver=persona(Persona.PLATFORM_ADMIN), approve=False, reason="No.")

    with pytest.raises(ValidationError, match="already rejected"):
        services.decide(request.pk, approver=second_admin, approve=True)


def test_the_asker_may_withdraw_and_a_new_request_may_then_be_opened(region: Region, persona: People) -> None:
    developer = persona(Persona.DEVELOPER)
    request = ask(region, developer)

    withdrawn = services.withdraw(request.pk, by=developer)
    fresh = ask(region, developer)

    assert withdrawn.status == ApprovalStatus.WITHDRAWN
    assert fresh.pk != request.pk
    assert AuditEvent.objects.filter(verb="approvals.withdrawn", actor=developer).count() == 1


def test_someone_else_without_the_right_cannot_withdraw(region: Region, persona: People) -> None:
    request = ask(region, persona(Persona.DEVELOPER))

    with pytest.raises((PermissionDenied, Http404)):
        services.withdraw(request.pk, by=persona(Persona.MANAGER))


# --- pages -------------------------------------------------------------------------------------------


def test_the_approvals_page_lists_what_waits_for_an_approver_and_what_one_asked_for(
    region: Region, persona: People, client_for: Callable[[Persona | None], Client]
) -> None:
    ask(region, persona(Persona.DEVELOPER))

    admin_page = client_for(Persona.PLATFORM_ADMIN).get("/approvals/").content.decode()
    developer_page = client_for(Persona.DEVELOPER).get("/approvals/").content.decode()

    assert "Build eu-west-1" in admin_page.split("Your requests")[0]
    assert "Nothing waits for you." in developer_page
    assert "Build eu-west-1" in developer_page.split("Your requests")[1]


def test_a_decision_that_settles_the_request_through_htmx_reloads_the_whole_page(
    region: Region, persona: People, client_for: Callable[[Persona | None], Client]
) -> None:
    # The page around the panel (the subject's status and the actions it offers) changes with the decision:
    # swapping the panel alone would leave "Waiting for approval" and a Cancel button beside an approved panel.
    request = ask(region, persona(Persona.DEVELOPER))
    admin = client_for(Persona.PLATFORM_ADMIN)

    response = admin.post(
        f"/approvals/{request.pk}/decide/", {"verdict": "approve", "reason": ""}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert response.headers["HX-Refresh"] == "true"
    html = admin.get(f"/approvals/{request.pk}/").content.decode()
    assert 'data-approval-status="approved"' in html
    assert 'name="verdict"' not in html, "nothing is left to decide"


def test_the_first_of_two_approvals_through_htmx_swaps_in_the_panel_still_waiting(
    region: Region, persona: People, client_for: Callable[[Persona | None], Client]
) -> None:
    request = ask(region, persona(Persona.DEVELOPER), required=2)

    response = client_for(Persona.PLATFORM_ADMIN).post(
        f"/approvals/{request.pk}/decide/", {"verdict": "approve", "reason": ""}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert "HX-Refresh" not in response.headers
    html = response.content.decode()
    assert "<html" not in html
    assert 'data-approval-status="pending"' in html


def test_a_double_submitted_decision_is_recorded_once_and_the_second_is_told_why(
    region: Region, persona: People, client_for: Callable[[Persona | None], Client]
) -> None:
    request = ask(region, persona(Persona.DEVELOPER))
    admin = client_for(Persona.PLATFORM_ADMIN)

    first = admin.post(f"/approvals/{request.pk}/decide/", {"verdict": "approve"})
    second = admin.post(f"/approvals/{request.pk}/decide/", {"verdict": "approve"})

    assert first.status_code == 302
    assert second.status_code == 400
    assert "This request was already approved." in second.content.decode()
    assert AuditEvent.objects.filter(verb="approvals.approved").count() == 1


def test_rejecting_without_a_reason_on_the_page_keeps_the_form_with_the_message(
    region: Region, persona: People, client_for: Callable[[Persona | None], Client]
) -> None:
    request = ask(region, persona(Persona.DEVELOPER))

    response = client_for(Persona.PLATFORM_ADMIN).post(f"/approvals/{request.pk}/decide/", {"verdict": "reject"})

    assert response.status_code == 400
    assert "Say why you reject it" in response.content.decode()
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.PENDING


def test_a_viewer_without_the_right_to_approve_sees_no_form_and_is_refused(
    region: Region, persona: People, client_for: Callable[[Persona | None], Client]
) -> None:
    request = ask(region, persona(Persona.DEVELOPER))
    lead = client_for(Persona.TEAM_LEAD)

    assert 'name="verdict"' not in lead.get(f"/approvals/{request.pk}/").content.decode()
    assert lead.post(f"/approvals/{request.pk}/decide/", {"verdict": "approve"}).status_code == 403
