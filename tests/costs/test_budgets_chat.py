"""Budget alerts on a chat webhook: posted by a real worker to a real HTTP server, retried, never told twice."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from time_machine import TimeMachineFixture

from access.models import User
from access.permissions import BuiltinRole
from costs import budgets
from costs.budget_models import BudgetAlert, ChatStatus
from costs.chat import ChatError, post_message
from notifications.models import Notification
from tests.costs.budget_helpers import Ledger, days, make_team, person
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until

SECRET_PATH = "/services/T0001/B0002/not-to-be-logged"


class ChatServer:
    """A local webhook: records each POST's path and JSON body, answers the statuses queued (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.received.append((self.path, body))
                    status = server.answers.pop(0) if server.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{SECRET_PATH}"

    def count(self) -> int:
        with self.lock:
            return len(self.received)


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_a_failing_webhook_is_retried_by_the_worker_without_telling_anyone_again(
    start_celery_worker: WorkerFactory, chat_server: ChatServer, time_machine: TimeMachineFixture
) -> None:
    start_celery_worker(env={"PORTAL_COSTS_CHAT_RETRY_SECONDS": "0.2"})
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
        chat_webhook_url=chat_server.url,
    )
    ledger = Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 10)), "55", team=team)  # 55 %
    chat_server.answers = [500, 503]  # the chat service is down for two attempts

    budgets.budgets_evaluate()
    budgets.budgets_evaluate()  # nothing new: no second post, no second notification
    first = BudgetAlert.objects.get()
    wait_until(lambda: BudgetAlert.objects.get(pk=first.pk).chat_status == ChatStatus.SENT)

    assert chat_server.count() == 3
    path, body = chat_server.received[-1]
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
    assert "80% spent" in chat_server.received[-1][1]["text"]
    assert Notification.objects.filter(recipient=lead).count() == 2


def test_a_chat_error_names_the_host_never_the_secret_path(chat_server: ChatServer) -> None:
    chat_server.answers = [500]
    with pytest.raises(ChatError) as answered:
        post_message(chat_server.url, "hello")
    with pytest.raises(ChatError) as refused:
        post_message(f"http://127.0.0.1:9{SECRET_PATH}", "hello")  # nothing listens on port 9

    assert str(answered.value) == "127.0.0.1 answered 500"
    assert "not-to-be-logged" not in str(refused.value)
    assert str(refused.value).startswith("127.0.0.1: ")


@pytest.mark.django_db
def test_the_audit_log_says_only_whether_a_budget_has_a_webhook(chat_server: ChatServer) -> None:
    from access.models import AuditEvent

    manager: User = person("marco", role=BuiltinRole.MANAGER)
    budgets.budget_create(
        actor=manager, name="Search", team=make_team("search"), amount=Decimal(5), chat_webhook_url=chat_server.url
    )

    event = AuditEvent.objects.get(verb="costs.budget_created")
    assert event.after is not None
    assert event.after["chat_webhook"] is True
    assert "not-to-be-logged" not in json.dumps([event.after, event.extra])
