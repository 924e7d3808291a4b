"""Budget alerts on a chat webhook: posted by a real worker to a real HTTP server, retried, never told twice."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from time_machine import TimeMachineFixture

from access.models import User
from access.permissions import BuiltinRole
from costs.budgets import services as budgets
from costs.budgets.chat import NOT_ALLOWED, NOT_DELIVERED, ChatError, post_message
from costs.budgets.models import BudgetAlert, ChatStatus
from notifications.models import Notification
from tests.costs.budget_helpers import Ledger, days, make_team, person
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from tests.outbound_servers import SECRET_PATH, TestCA, WebhookServer


@pytest.fixture
def chat_server(tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookServer]:
    """An HTTPS webhook on 127.0.0.1 that this process trusts (its CA as SSL_CERT_FILE) and may reach.

    Production opens no loopback address: the test opens 127.0.0.1 explicitly, as an administrator would open
    an internal chat server's network with PORTAL_COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS.
    """
    ca = TestCA(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    settings.COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    server = WebhookServer(ca)
    yield server
    server.close()


def worker_env(server: WebhookServer, **more: str) -> dict[str, str]:
    """What a worker needs to reach the test's webhook: the loopback address opened and the test CA trusted."""
    return {
        "PORTAL_COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS": "127.0.0.1/32",
        "SSL_CERT_FILE": os.environ["SSL_CERT_FILE"],
        **more,
    }


def test_a_failing_webhook_is_retried_by_the_worker_without_telling_anyone_again(
    start_celery_worker: WorkerFactory, chat_server: WebhookServer, time_machine: TimeMachineFixture
) -> None:
    start_celery_worker(env=worker_env(chat_server, PORTAL_COSTS_CHAT_RETRY_SECONDS="0.2"))
    time_machine.move_to(datetime(2026, 11, 11, 9, tzinfo=UTC))
    team = make_team("checkout")
    lead = person("lena", team=team, role=BuiltinRole.TEAM_LEAD, lead=True)
    manager = person("marco", role=BuiltinRole.MANAGER)
    budget = budgets.budget_create(
        actor=manager,
        name="Checkout",
        team=team,
        amount=Decimal(1000),
        forecast_thresholds=[],
        chat_webhook_url=chat_server.url("127.0.0.1"),
    )
    ledger = Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 10)), "55", team=team)  # 55 %
    chat_server.answers = [500, 503]  # the chat service is down for two attempts

    budgets.budgets_evaluate()
    budgets.budgets_evaluate()  # nothing new: no second post, no second notification
    first = BudgetAlert.objects.get()
    # The first wait includes the worker's start, slow on a busy machine.
    wait_until(lambda: BudgetAlert.objects.get(pk=first.pk).chat_status == ChatStatus.SENT, timeout=90)

    assert chat_server.count() == 3
    path, _, body = chat_server.received[-1]
    assert path == SECRET_PATH
    assert "Budget Checkout: 50% spent (November 2026)" in body["text"]
    assert f"/costs/budgets/{budget.pk}/" in body["text"]
    first.refresh_from_db()
    assert (first.chat_attempts, first.chat_error) == (3, "")
    assert Notification.objects.filter(recipient=lead).count() == 1

    # The next threshold: one more post (so the re-run above enqueued nothing), one more notification.
    ledger.spend(days(date(2026, 11, 11), date(2026, 11, 15)), "55", team=team)  # 82.5 %
    time_machine.move_to(datetime(2026, 11, 16, 9, tzinfo=UTC))
    budgets.budgets_evaluate()
    second = BudgetAlert.objects.get(threshold=80)
    wait_until(lambda: BudgetAlert.objects.get(pk=second.pk).chat_status == ChatStatus.SENT)

    assert chat_server.count() == 4
    assert "80% spent" in chat_server.received[-1][2]["text"]
    assert Notification.objects.filter(recipient=lead).count() == 2


def test_a_chat_error_names_the_host_for_the_log_never_the_secret_path_and_tells_the_page_nothing(
    chat_server: WebhookServer,
) -> None:
    chat_server.answers = [500]
    with pytest.raises(ChatError) as answered:
        post_message(chat_server.url("127.0.0.1"), "hello")
    with pytest.raises(ChatError) as refused:
        post_message(f"https://127.0.0.1:9{SECRET_PATH}", "hello")  # nothing listens on port 9
    with pytest.raises(ChatError) as not_allowed:
        post_message(f"http://127.0.0.1:{chat_server.port}{SECRET_PATH}", "hello")

    assert answered.value.detail == "127.0.0.1 answered 500"
    assert answered.value.public == NOT_DELIVERED
    assert refused.value.detail.startswith("127.0.0.1: ")
    assert refused.value.public == NOT_DELIVERED
    assert (not_allowed.value.public, not_allowed.value.permanent) == (NOT_ALLOWED, True)
    for error in (answered.value, refused.value, not_allowed.value):
        assert "not-to-be-logged" not in f"{error.detail} {error.public}"
        assert "500" not in error.public
    assert chat_server.count() == 1


@pytest.mark.django_db
def test_the_audit_log_says_only_whether_a_budget_has_a_webhook(chat_server: WebhookServer) -> None:
    from access.models import AuditEvent

    manager: User = person("marco", role=BuiltinRole.MANAGER)
    budgets.budget_create(
        actor=manager,
        name="Search",
        team=make_team("search"),
        amount=Decimal(5),
        chat_webhook_url=chat_server.url("127.0.0.1"),
    )

    event = AuditEvent.objects.get(verb="costs.budget_created")
    assert event.after is not None
    assert event.after["chat_webhook"] is True
    assert "not-to-be-logged" not in json.dumps([event.after, event.extra])
