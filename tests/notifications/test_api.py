"""The notifications API does what the inbox does: one's own notifications only, marking one or all read,
safe to repeat, refusals in words."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone

from access.models import User
from notifications.models import Notification
from portal.demo import Persona
from tests.helpers import queries_for

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
NOTIFICATIONS = "/api/notifications/"


def tell(user: User, title: str, *, read: bool = False) -> Notification:
    return Notification.objects.create(
        recipient=user, title=title, url="/environments/", read_at=timezone.now() if read else None
    )


def titles(answer: dict[str, object]) -> list[object]:
    results = answer["results"]
    assert isinstance(results, list)
    return [entry["title"] for entry in results]


def test_the_inbox_lists_ones_own_notifications_newest_first_and_the_unread_ones_on_request(
    persona: Callable[[Persona], User], client_for: ClientFor
) -> None:
    developer = persona(Persona.DEVELOPER)
    tell(developer, "Build finished", read=True)
    tell(developer, "Environment ready")
    tell(persona(Persona.MANAGER), "Budget exceeded")
    client = client_for(Persona.DEVELOPER)

    everything = client.get(NOTIFICATIONS).json()
    unread = client.get(NOTIFICATIONS, {"unread": "true"}).json()

    assert titles(everything) == ["Environment ready", "Build finished"]
    assert titles(unread) == ["Environment ready"]
    assert everything["results"][0]["url"] == "/environments/"
    assert everything["results"][1]["read"] is True


def test_the_inbox_runs_the_same_queries_however_many_notifications_it_lists(
    persona: Callable[[Persona], User], client_for: ClientFor
) -> None:
    developer = persona(Persona.DEVELOPER)
    client = client_for(Persona.DEVELOPER)
    tell(developer, "One")
    few = queries_for(client, NOTIFICATIONS)
    for number in range(10):
        tell(developer, f"More {number}")

    assert queries_for(client, NOTIFICATIONS) == few


def test_someone_elses_notification_is_not_found_and_stays_unread(
    persona: Callable[[Persona], User], client_for: ClientFor
) -> None:
    managers = tell(persona(Persona.MANAGER), "Budget exceeded")
    developer = client_for(Persona.DEVELOPER)

    seen = developer.get(f"{NOTIFICATIONS}{managers.pk}/")
    marked = developer.post(f"{NOTIFICATIONS}{managers.pk}/read/")

    assert seen.status_code == marked.status_code == 404
    assert marked.json()["error"]["code"] == "not_found"
    managers.refresh_from_db()
    assert managers.read_at is None


def test_marking_one_read_is_safe_to_repeat_and_keeps_when_it_was_read(
    persona: Callable[[Persona], User], client_for: ClientFor
) -> None:
    notification = tell(persona(Persona.DEVELOPER), "Environment ready")
    client = client_for(Persona.DEVELOPER)
    path = f"{NOTIFICATIONS}{notification.pk}/read/"

    first = client.post(path, HTTP_IDEMPOTENCY_KEY="read-1")
    replayed = client.post(path, HTTP_IDEMPOTENCY_KEY="read-1")
    again = client.post(path)

    assert first.status_code == replayed.status_code == again.status_code == 200
    assert first.json()["read"] is True
    assert replayed.headers["Idempotency-Replayed"] == "true"
    assert again.json()["read_at"] == first.json()["read_at"]
    assert client.get(NOTIFICATIONS, {"unread": "true"}).json()["count"] == 0


def test_marking_all_read_touches_only_ones_own(persona: Callable[[Persona], User], client_for: ClientFor) -> None:
    developer = persona(Persona.DEVELOPER)
    tell(developer, "One")
    tell(developer, "Two")
    managers = tell(persona(Persona.MANAGER), "Budget exceeded")
    client = client_for(Persona.DEVELOPER)

    first = client.post(f"{NOTIFICATIONS}read-all/", HTTP_IDEMPOTENCY_KEY="all-1")
    again = client.post(f"{NOTIFICATIONS}read-all/")

    assert first.json() == {"marked": 2, "unread": 0}
    assert again.json() == {"marked": 0, "unread": 0}
    assert not Notification.objects.filter(recipient=developer, read_at__isnull=True).exists()
    managers.refresh_from_db()
    assert managers.read_at is None


def test_a_bad_filter_is_a_400_in_words_and_anonymous_callers_are_asked_to_sign_in(client_for: ClientFor) -> None:
    client = client_for(Persona.DEVELOPER)

    bad_value = client.get(NOTIFICATIONS, {"unread": "maybe"})
    misspelt = client.get(NOTIFICATIONS, {"unraed": "true"})
    anonymous = client_for(None).get(NOTIFICATIONS)

    assert bad_value.status_code == misspelt.status_code == 400
    assert bad_value.json()["error"]["fields"]["unread"] == ["Give true or false."]
    assert "unraed" in misspelt.json()["error"]["fields"]
    assert anonymous.status_code == 401
