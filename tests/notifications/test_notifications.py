"""Notifications: each person told once, in the portal and by e-mail through a real SMTP server from a real worker."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.core import mail
from django.test import Client
from django.test.utils import override_settings

from access.models import User
from notifications import services
from notifications.models import Notification
from notifications.services import Message
from notifications.tasks import retry_emails, send_emails
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until

APPROVAL = Message(
    kind="environments.approval_requested",
    title="payments-preview needs your approval",
    body="Ana asks for a production environment.",
    url="/environments/42/",
    key="environment:42:approval",
)


def person(username: str, **fields: Any) -> User:
    return User.objects.create(username=username, email=f"{username}@example.com", **fields)


@dataclass
class SmtpServer:
    """A real SMTP server on a loopback port and the messages it received."""

    port: int
    received: list[EmailMessage] = field(default_factory=list)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        server = SmtpServer(port=probe.getsockname()[1])

    class Inbox:
        async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
            server.received.append(message_from_bytes(envelope.original_content or b""))
            return "250 OK"

    controller = Controller(Inbox(), hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.mark.django_db
def test_each_active_recipient_is_told_once_even_when_the_same_thing_is_said_again() -> None:
    lead, admin = person("lead"), person("admin")
    gone = person("gone", is_active=False)

    first = services.notify([lead, admin, gone, lead], APPROVAL, email=False)
    again = services.notify([lead, admin], APPROVAL, email=False)

    assert sorted(n.recipient.username for n in first) == ["admin", "lead"]
    assert again == []
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_messages_without_a_key_are_all_kept() -> None:
    lead = person("lead")
    update = Message(kind="k", title="Something changed")

    services.notify([lead], update, email=False)
    services.notify([lead], update, email=False)

    assert Notification.objects.filter(recipient=lead).count() == 2


@pytest.mark.django_db
def test_the_bell_shows_how_many_are_unread_and_the_inbox_only_ones_own(client: Client) -> None:
    lead, other = person("lead"), person("other")
    services.notify([lead], APPROVAL, email=False)
    services.notify([other], Message(kind="k", title="Not for the lead"), email=False)
    client.force_login(lead)

    page = client.get("/notifications/").content.decode()

    assert "payments-preview needs your approval" in page
    assert "Not for the lead" not in page
    assert "data-unread-count>1<" in page
    assert 'data-unread="yes"' in page


@pytest.mark.django_db
def test_the_bell_groups_a_count_in_the_thousands_in_the_portal_locale_not_the_browsers(client: Client) -> None:
    lead = person("lead")
    Notification.objects.bulk_create(
        Notification(recipient=lead, kind="k", title=f"Message {number}") for number in range(1234)
    )
    client.force_login(lead)

    english = client.get("/notifications/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    with override_settings(LANGUAGE_CODE="de"):
        german = client.get("/notifications/").content.decode()

    assert "data-unread-count>1,234<" in english  # the browser asks for German; the portal's locale decides
    assert "data-unread-count>1.234<" in german


@pytest.mark.django_db
def test_opening_a_notification_marks_it_read_and_goes_where_it_points(client: Client) -> None:
    lead = person("lead")
    (notification,) = services.notify([lead], APPROVAL, email=False)
    client.force_login(lead)

    response = client.post(f"/notifications/{notification.pk}/")

    assert response.status_code == 302
    assert response["Location"] == "/environments/42/"
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert "data-unread-count" not in client.get("/notifications/").content.decode()


@pytest.mark.django_db
def test_looking_at_a_notification_changes_nothing(client: Client) -> None:
    lead = person("lead")
    (notification,) = services.notify([lead], APPROVAL, email=False)
    client.force_login(lead)

    page = client.get(f"/notifications/{notification.pk}/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "payments-preview needs your approval" in text
    assert f'<form method="post" action="/notifications/{notification.pk}/">' in text
    notification.refresh_from_db()
    assert notification.read_at is None
    assert "data-unread-count>1<" in client.get("/notifications/").content.decode()


@pytest.mark.django_db
def test_the_inbox_opens_a_notification_by_post_with_its_csrf_token(client: Client) -> None:
    lead = person("lead")
    (notification,) = services.notify([lead], APPROVAL, email=False)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(lead)

    inbox = browser.get("/notifications/").content.decode()
    token = inbox.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    forged = browser.post(f"/notifications/{notification.pk}/")
    opened = browser.post(f"/notifications/{notification.pk}/", {"csrfmiddlewaretoken": token})

    assert f'action="/notifications/{notification.pk}/"' in inbox
    assert f'href="/notifications/{notification.pk}/"' not in inbox, "no link a GET would follow"
    assert forged.status_code == 403
    assert (opened.status_code, opened["Location"]) == (302, "/environments/42/")
    notification.refresh_from_db()
    assert notification.read_at is not None


@pytest.mark.django_db
def test_mark_read_with_htmx_answers_the_row_and_the_bell_and_keeps_the_page(client: Client) -> None:
    lead = person("lead")
    services.notify([lead], Message(kind="k", title="Second"), email=False)
    (notification,) = services.notify([lead], APPROVAL, email=False)
    client.force_login(lead)

    response = client.post(f"/notifications/{notification.pk}/read/", headers={"HX-Request": "true"})

    assert response.status_code == 200
    fragment = response.content.decode()
    assert f'id="notification-{notification.pk}"' in fragment
    assert 'data-unread="no"' in fragment
    assert "<html" not in fragment
    assert 'id="notification-bell" href="/notifications/" hx-swap-oob="true"' in fragment
    assert "data-unread-count>1<" in fragment  # the other one is still unread
    notification.refresh_from_db()
    assert notification.read_at is not None


@pytest.mark.django_db
def test_mark_read_without_htmx_goes_back_to_the_inbox_and_takes_no_get(client: Client) -> None:
    lead = person("lead")
    (notification,) = services.notify([lead], APPROVAL, email=False)
    client.force_login(lead)

    looked = client.get(f"/notifications/{notification.pk}/read/")
    notification.refresh_from_db()
    assert (looked.status_code, notification.read_at) == (405, None)

    response = client.post(f"/notifications/{notification.pk}/read/")

    assert (response.status_code, response["Location"]) == (302, "/notifications/")
    notification.refresh_from_db()
    assert notification.read_at is not None


@pytest.mark.django_db
def test_someone_elses_notification_is_not_found_and_stays_unread(client: Client) -> None:
    lead, other = person("lead"), person("other")
    (notification,) = services.notify([lead], APPROVAL, email=False)
    client.force_login(other)

    assert client.get(f"/notifications/{notification.pk}/").status_code == 404
    assert client.post(f"/notifications/{notification.pk}/").status_code == 404
    assert client.post(f"/notifications/{notification.pk}/read/").status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/x", "javascript:alert(1)"])
def test_a_notification_never_sends_anyone_off_the_portal(client: Client, target: str) -> None:
    lead = person("lead")
    notification = Notification.objects.create(recipient=lead, kind="k", title="t", url=target)
    client.force_login(lead)

    response = client.post(f"/notifications/{notification.pk}/")

    assert response["Location"] == "/notifications/"
    assert target not in client.get(f"/notifications/{notification.pk}/").content.decode()


@pytest.mark.django_db
def test_mark_all_read_clears_the_bell(client: Client) -> None:
    lead = person("lead")
    services.notify([lead], APPROVAL, email=False)
    services.notify([lead], Message(kind="k", title="Second"), email=False)
    client.force_login(lead)

    response = client.post("/notifications/read/")

    assert response.status_code == 302
    assert not Notification.objects.filter(recipient=lead, read_at__isnull=True).exists()
    assert "Only unread" in client.get("/notifications/").content.decode()
    assert "Nothing unread." in client.get("/notifications/?unread=1").content.decode()


@pytest.mark.django_db
@override_settings(EMAIL_ENABLED=True, BASE_URL="https://portal.example.com")
def test_an_email_carries_the_title_body_and_a_link_and_is_sent_once() -> None:
    lead = person("lead")
    (notification,) = services.notify([lead], APPROVAL, email=False)

    assert send_emails([notification.pk]) == 1
    assert send_emails([notification.pk]) == 0, "a retried task sends nothing twice"

    (sent,) = mail.outbox
    assert sent.to == ["lead@example.com"]
    assert sent.subject == "[Platform Portal] payments-preview needs your approval"
    assert "Ana asks for a production environment." in sent.body
    assert "https://portal.example.com/environments/42/" in sent.body


@pytest.mark.django_db
@override_settings(EMAIL_ENABLED=False)
def test_without_an_email_configuration_nothing_is_sent_and_the_portal_still_tells() -> None:
    lead = person("lead")
    (notification,) = services.notify([lead], APPROVAL, email=False)

    assert send_emails([notification.pk]) == 0
    assert mail.outbox == []
    assert Notification.objects.filter(recipient=lead).exists()


@pytest.mark.django_db
@override_settings(
    EMAIL_ENABLED=True, EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1"
)
def test_a_mail_server_that_cannot_be_reached_is_recorded_and_the_mail_tried_again_later() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    lead = person("lead")
    (notification,) = services.notify([lead], APPROVAL, email=False)

    with override_settings(EMAIL_PORT=closed_port):
        assert send_emails([notification.pk]) == 0

    notification.refresh_from_db()
    assert notification.emailed_at is None
    assert notification.email_error != ""

    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        assert retry_emails() == 1, "beat tries it again once the server answers"
    notification.refresh_from_db()
    assert (notification.emailed_at is not None, notification.email_error) == (True, "")


def test_a_worker_emails_the_notification_through_a_real_smtp_server_after_commit(
    start_celery_worker: WorkerFactory, smtp_server: SmtpServer
) -> None:
    start_celery_worker(
        env={
            "PORTAL_EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}",
            "PORTAL_BASE_URL": "https://portal.example.com",
        }
    )
    lead = person("lead")

    (notification,) = services.notify([lead], APPROVAL)

    wait_until(lambda: Notification.objects.get(pk=notification.pk).emailed_at is not None, timeout=30)
    (received,) = smtp_server.received
    assert received["To"] == "lead@example.com"
    assert received["Subject"] == "[Platform Portal] payments-preview needs your approval"
    assert "https://portal.example.com/environments/42/" in received.get_payload()


def test_beat_tries_failed_mail_again_every_ten_minutes(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-retry-emails"]

    assert (entry["task"], entry["schedule"]) == ("notifications.retry_emails", 600.0)
