"""A page showing a waiting subject follows it: the poll it carries answers "unchanged" until the subject moves
on, then reloads the page; a settled subject's page asks nothing; nobody learns of a subject they may not see."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.http import Http404
from django.test import Client
from django.urls import reverse

from access.models import Team, Tier, User
from approvals import services as approvals
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal import live
from portal.demo import Persona, username_of
from regions.models import Cluster, Region

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
POLL = re.compile(r'data-live-status hx-get="([^"]+)" hx-trigger="every \d+s"')


def environment(status: str, team: str = "student-experience") -> Environment:
    return Environment.objects.create(
        name=f"live-{status.replace('_', '-')}",
        team=Team.objects.get(slug=team),
        template=EnvironmentTemplate.objects.get(slug="staging"),
        tier=Tier.STAGING,
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        requested_by=User.objects.get(username=username_of(Persona.DEVELOPER)),
        status=status,
        monthly_estimate="10.00",
        currency="USD",
    )


def poll_of(client: Client, url: str) -> str:
    """The poll a page carries (its URL with the stamp of what the page showed)."""
    found = POLL.search(client.get(url).content.decode())
    assert found, f"{url} carries no status poll"
    return found.group(1).replace("&amp;", "&")


def test_a_waiting_environment_page_hears_nothing_until_its_status_moves_on_then_reloads(
    client_for: ClientFor,
) -> None:
    developer = client_for(Persona.DEVELOPER)
    waiting = environment(EnvironmentStatus.PENDING_APPROVAL)
    poll = poll_of(developer, reverse("environments:detail", args=[waiting.pk]))

    unchanged = developer.get(poll, HTTP_HX_REQUEST="true")
    assert unchanged.status_code == 204
    assert "HX-Refresh" not in unchanged.headers

    Environment.objects.filter(pk=waiting.pk).update(status=EnvironmentStatus.PROVISIONING)
    moved_on = developer.get(poll, HTTP_HX_REQUEST="true")
    assert moved_on.status_code == 200
    assert moved_on.headers["HX-Refresh"] == "true"


def test_a_settled_subjects_page_carries_no_poll(client_for: ClientFor) -> None:
    ready = environment(EnvironmentStatus.READY)

    html = client_for(Persona.DEVELOPER).get(reverse("environments:detail", args=[ready.pk])).content.decode()

    assert "data-live-status" not in html


def test_the_poll_tells_nothing_of_a_subject_one_may_not_see(client_for: ClientFor) -> None:
    theirs = environment(EnvironmentStatus.PENDING_APPROVAL, team="tutor-tools")
    url = reverse("live_status", kwargs={"kind": "environment", "pk": theirs.pk})

    assert client_for(Persona.DEVELOPER).get(url, {"seen": "x"}).status_code == 404
    assert client_for(Persona.PLATFORM_ADMIN).get(url, {"seen": "x"}).status_code == 200
    signed_out = client_for(None).get(url, {"seen": "x"})
    assert signed_out.status_code == 302
    assert "/accounts/login/" in signed_out.headers["Location"]


def test_an_unknown_kind_or_a_mangled_stamp_is_no_error(client_for: ClientFor) -> None:
    developer = client_for(Persona.DEVELOPER)
    waiting = environment(EnvironmentStatus.PENDING_APPROVAL)

    assert developer.get(f"/live/nonsense/{waiting.pk}/").status_code == 404
    # A stamp the page never drew reads as "changed": the page is drawn afresh, which is always safe.
    mangled = developer.get(f"/live/environment/{waiting.pk}/", {"seen": "<script>" * 50})
    assert mangled.status_code == 200
    assert mangled.headers["HX-Refresh"] == "true"


def test_a_pending_approval_page_follows_another_approvers_decision(client_for: ClientFor) -> None:
    region = Region.objects.get(provider="aws", code="eu-west-1")
    request = approvals.request_approval(
        region,
        purpose="regions.build",
        requested_by=User.objects.get(username=username_of(Persona.DEVELOPER)),
        summary="Build eu-west-1",
        reasons=["A test of the live page."],
        url=f"/regions/{region.pk}/",
    )
    requester = client_for(Persona.DEVELOPER)
    poll = poll_of(requester, reverse("approvals:detail", args=[request.pk]))
    assert requester.get(poll).status_code == 204

    approvals.decide(request.pk, approver=User.objects.get(username=username_of(Persona.PLATFORM_ADMIN)), approve=True)

    assert requester.get(poll).headers["HX-Refresh"] == "true"
    assert "data-live-status" not in requester.get(reverse("approvals:detail", args=[request.pk])).content.decode()


@pytest.mark.parametrize("kind", sorted(live.SUBJECTS))
def test_every_followed_kind_is_found_through_the_policy(kind: str, demo: None) -> None:
    admin = User.objects.get(username=username_of(Persona.PLATFORM_ADMIN))
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    subject = live.SUBJECTS[kind]
    with pytest.raises(Http404):
        subject.find(admin, 2_147_483_647)
    with pytest.raises(Http404):
        subject.find(developer, 2_147_483_647)
