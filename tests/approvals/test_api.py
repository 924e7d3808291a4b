"""The approvals API does what the approvals pages do: what waits for one's decision and one's own requests,
deciding (safe to repeat) and withdrawing, each refusal a structured error, nothing recorded twice."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from access.models import Team, User
from approvals import services
from approvals.models import ApprovalDecision, ApprovalRequest, ApprovalStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona
from regions.models import Cluster, Region

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]


@pytest.fixture
def asked(persona: Callable[[Persona], User]) -> ApprovalRequest:
    """The demo developer asks for a region build; platform admins may decide it."""
    return services.request_approval(
        Region.objects.get(provider="aws", code="eu-west-1"),
        purpose="regions.build",
        requested_by=persona(Persona.DEVELOPER),
        summary="Build eu-west-1",
        reasons=["Production regions need a platform admin."],
    )


def ids(answer: list[dict[str, object]]) -> list[object]:
    return [entry["id"] for entry in answer]


def test_the_waiting_list_holds_what_one_may_decide_and_mine_what_one_asked_for(
    asked: ApprovalRequest, client_for: Callable[[Persona | None], Client]
) -> None:
    admin, developer = client_for(Persona.PLATFORM_ADMIN), client_for(Persona.DEVELOPER)

    waiting = admin.get("/api/approvals/").json()
    mine = developer.get("/api/approvals/", {"scope": "mine"}).json()

    (entry,) = [entry for entry in waiting if entry["id"] == asked.pk]
    assert entry["can_decide"] is True
    assert entry["subject"]["type"] == "regions.region"
    assert entry["requested_by"] == asked.requested_by.username
    assert asked.pk not in ids(developer.get("/api/approvals/").json())  # nobody decides their own
    assert ids(mine) == [asked.pk]
    assert mine[0]["can_withdraw"] is True
    assert mine[0]["can_decide"] is False
    assert developer.get(f"/api/approvals/{asked.pk}/").json()["summary"] == "Build eu-west-1"


def test_a_decision_is_recorded_once_however_often_it_is_sent(
    asked: ApprovalRequest, client_for: Callable[[Persona | None], Client]
) -> None:
    admin = client_for(Persona.PLATFORM_ADMIN)
    path = f"/api/approvals/{asked.pk}/decide/"

    first = admin.post(path, {"verdict": "approve"}, content_type="application/json")
    again = admin.post(path, {"verdict": "approve"}, content_type="application/json")
    changed_mind = admin.post(path, {"verdict": "reject", "reason": "no"}, content_type="application/json")

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == ApprovalStatus.APPROVED
    assert [d["verdict"] for d in again.json()["decisions"]] == ["approve"]
    assert changed_mind.status_code == 400
    assert "already approved" in changed_mind.json()["error"]["fields"]["non_field_errors"][0]
    assert ApprovalDecision.objects.filter(request=asked).count() == 1


def test_refusals_are_structured_and_change_nothing(
    asked: ApprovalRequest, client_for: Callable[[Persona | None], Client]
) -> None:
    admin, developer = client_for(Persona.PLATFORM_ADMIN), client_for(Persona.DEVELOPER)
    path = f"/api/approvals/{asked.pk}/decide/"

    no_reason = admin.post(path, {"verdict": "reject"}, content_type="application/json")
    no_verdict = admin.post(path, {"verdict": "maybe"}, content_type="application/json")
    own = developer.post(path, {"verdict": "approve"}, content_type="application/json")
    unknown = admin.post("/api/approvals/999999/decide/", {"verdict": "approve"}, content_type="application/json")
    bad_scope = admin.get("/api/approvals/", {"scope": "everything"})
    anonymous = client_for(None).get("/api/approvals/")

    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["error"]["fields"]
    assert no_verdict.status_code == 400
    assert "verdict" in no_verdict.json()["error"]["fields"]
    assert own.status_code == 403  # a developer may not approve a region, their own request least of all
    assert unknown.status_code == 404
    assert bad_scope.status_code == 400
    assert "waiting, mine" in bad_scope.json()["error"]["fields"]["scope"][0]
    assert anonymous.status_code == 401
    assert ApprovalRequest.objects.get(pk=asked.pk).status == ApprovalStatus.PENDING
    assert not ApprovalDecision.objects.filter(request=asked).exists()


def test_the_requester_withdraws_and_withdrawing_again_answers_the_same(
    asked: ApprovalRequest, client_for: Callable[[Persona | None], Client]
) -> None:
    developer = client_for(Persona.DEVELOPER)
    path = f"/api/approvals/{asked.pk}/withdraw/"

    first, again = developer.post(path), developer.post(path)

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == ApprovalStatus.WITHDRAWN
    assert (
        client_for(Persona.PLATFORM_ADMIN)
        .post(f"/api/approvals/{asked.pk}/decide/", {"verdict": "approve"}, content_type="application/json")
        .status_code
        == 400
    )


def team_environment(slug: str, name: str) -> Environment:
    return Environment.objects.create(
        team=Team.objects.get(slug=slug),
        name=name,
        template=EnvironmentTemplate.objects.get(slug="production"),
        tier="production",
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        requested_by=User.objects.filter(memberships__team__slug=slug).first() or User.objects.get(username="admin"),
        status="pending_approval",
        monthly_estimate="10.00",
        currency="USD",
    )


def ask_about(subject: Environment, who: User) -> ApprovalRequest:
    return services.request_approval(
        subject, purpose="environments.provision", requested_by=who, summary=f"Provision {subject.name}"
    )


def test_the_team_list_holds_the_requests_about_ones_teams_things_newest_first(
    asked: ApprovalRequest, client_for: Callable[[Persona | None], Client], persona: Callable[[Persona], User]
) -> None:
    ours = ask_about(team_environment("student-experience", "checkout-prod"), persona(Persona.TEAM_LEAD))
    newer = ask_about(team_environment("student-experience", "search-prod"), persona(Persona.DEVELOPER))
    theirs = ask_about(team_environment("tutor-tools", "tutor-prod"), persona(Persona.PLATFORM_ADMIN))

    developer = client_for(Persona.DEVELOPER).get("/api/approvals/", {"scope": "team"})
    admin = client_for(Persona.PLATFORM_ADMIN).get("/api/approvals/", {"scope": "team"})
    auditor = client_for(Persona.AUDITOR).get("/api/approvals/", {"scope": "team"})

    assert developer.status_code == 200
    assert ids(developer.json()) == [newer.pk, ours.pk]  # not the other team's, nor the region's (no team's)
    # The admin sees everything, and is a member of core-platform only.
    assert theirs.pk not in ids(admin.json())
    assert asked.pk not in ids(admin.json())
    assert auditor.json() == []
    unknown = client_for(Persona.DEVELOPER).get("/api/approvals/", {"scope": "everyone"})
    assert unknown.status_code == 400
    assert "team" in unknown.json()["error"]["fields"]["scope"][0]


def test_requests_about_one_subject_are_found_by_its_kind_and_id(
    asked: ApprovalRequest, client_for: Callable[[Persona | None], Client]
) -> None:
    admin = client_for(Persona.PLATFORM_ADMIN)
    subject = {"subject_type": "regions.region", "subject_id": asked.subject_id}

    about = admin.get("/api/approvals/", subject).json()
    waiting_about = admin.get("/api/approvals/", {**subject, "scope": "waiting"}).json()
    other_region = admin.get("/api/approvals/", {**subject, "subject_id": "0"}).json()
    unknown_kind = admin.get("/api/approvals/", {"subject_type": "regions.volcano", "subject_id": "1"})
    half = admin.get("/api/approvals/", {"subject_type": "regions.region"})

    assert ids(about) == ids(waiting_about) == [asked.pk]
    assert other_region == []
    assert unknown_kind.status_code == half.status_code == 400
    assert "e.g. environments.environment" in unknown_kind.json()["error"]["fields"]["subject_type"][0]
    assert half.json()["error"]["fields"]["subject_id"] == ["Give the id of the subject too."]


def test_requests_about_a_subject_one_may_not_see_are_not_listed(
    persona: Callable[[Persona], User], client_for: Callable[[Persona | None], Client]
) -> None:
    from tests.costs.savings_data import make_environment

    theirs = make_environment("tutor-load-test", team="tutor-tools")
    services.request_approval(
        theirs, purpose="environments.request", requested_by=persona(Persona.PLATFORM_ADMIN), summary="Load test"
    )
    subject = {"subject_type": "environments.environment", "subject_id": str(theirs.pk)}

    assert client_for(Persona.DEVELOPER).get("/api/approvals/", subject).json() == []
    assert [
        entry["summary"] for entry in client_for(Persona.PLATFORM_ADMIN).get("/api/approvals/", subject).json()
    ] == ["Load test"]
