"""Chat webhook URLs are held to the outbound rules when a budget is saved and again when the worker posts.

Saving refuses, saying why, a URL the portal must not post to (the form and
the API alike); the worker refuses a URL that was stored before the rules or
whose name now resolves to a private address, and the budget page shows a
generic failure, never what the target answered. Every refusal is proven
against a real loopback listener that sees no connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from time_machine import TimeMachineFixture

from access.models import Team, User
from access.permissions import BuiltinRole
from costs.budgets import services as budgets
from costs.budgets.chat import NOT_ALLOWED, NOT_DELIVERED
from costs.budgets.models import Budget, BudgetAlert, ChatStatus
from costs.budgets.tasks import post_to_chat
from providers import outbound
from tests.costs.budget_helpers import Ledger, api, days, make_team, person, signed_in
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from tests.outbound_servers import CHAT_HOST, SECRET_PATH, Listener, StubResolver, TestCA, WebhookServer

PUBLIC = "93.184.215.14"  # resolved to, never connected to: the tests that post open loopback explicitly


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def team(db: None) -> Team:
    return make_team("checkout")


@pytest.fixture
def manager(db: None) -> User:
    return person("marco", role=BuiltinRole.MANAGER)


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> StubResolver:
    """The system resolver of this process, replaced: chat.example.test and hooks.slack.com resolve publicly."""
    resolver = StubResolver({CHAT_HOST: [[PUBLIC]], "hooks.slack.com": [[PUBLIC]]})
    monkeypatch.setattr(outbound, "system_resolver", resolver)
    return resolver


def refused_urls(port: int) -> list[tuple[str, str]]:
    """URLs a budget may not name, each aimed at the loopback listener where it has a port, and why."""
    return [
        (f"http://{CHAT_HOST}:{port}{SECRET_PATH}", "must start with https://"),
        (f"https://127.0.0.1:{port}{SECRET_PATH}", "127.0.0.1 is a loopback address"),
        (f"https://2130706433:{port}{SECRET_PATH}", "Enter a valid URL"),  # Django's URL field refuses it first
        (f"https://[::1]:{port}{SECRET_PATH}", "::1 is a loopback address"),
        (f"https://[::ffff:127.0.0.1]:{port}{SECRET_PATH}", "carries the IPv4 address 127.0.0.1"),
        (f"https://user:pass@{CHAT_HOST}:{port}{SECRET_PATH}", "must not contain a user name or password"),
        ("https://10.0.0.7:6379/", "10.0.0.7 is a private address"),
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata address"),
        ("https://[fd00:ec2::254]/latest/meta-data/", "cloud metadata address"),
        ("https://100.64.1.1/", "carrier-grade NAT"),
    ]


def form_data(team: Team, url: str) -> dict[str, Any]:
    return {
        "name": "Checkout",
        "team": team.pk,
        "period": "monthly",
        "amount": "1000",
        "currency": "USD",
        "basis": "effective",
        "actual_thresholds": "50,100",
        "forecast_thresholds": "100",
        "active": "on",
        "chat_webhook_url": url,
    }


# --- when the URL is saved ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_budget_form_refuses_a_webhook_the_portal_must_not_post_to_and_says_why(
    team: Team, manager: User, listener: Listener, names: StubResolver
) -> None:
    client = signed_in(manager)
    for url, why in refused_urls(listener.port):
        response = client.post(reverse("costs:budget_create"), form_data(team, url))

        assert response.status_code == 200, url
        page = response.content.decode()
        assert why in page.replace("&#x27;", "'"), url
        assert "not-to-be-logged" not in page
    assert not Budget.objects.exists()
    assert listener.count() == 0


@pytest.mark.django_db
def test_the_api_refuses_a_webhook_the_portal_must_not_post_to_with_a_structured_error(
    team: Team, manager: User, listener: Listener, names: StubResolver
) -> None:
    for url, why in refused_urls(listener.port):
        response = api(manager).post(
            "/api/budgets/", {"name": "x", "team": "checkout", "amount": "5", "chat_webhook_url": url}, format="json"
        )

        assert response.status_code == 400, url
        body = response.json()
        assert body["error"]["code"] == "invalid", body
        assert why in str(body["error"]["fields"]["chat_webhook_url"]), body
    assert not Budget.objects.exists()
    assert listener.count() == 0


@pytest.mark.django_db
def test_changing_a_budget_to_a_refused_webhook_keeps_the_one_it_had(
    team: Team, manager: User, names: StubResolver
) -> None:
    budget = budgets.budget_create(
        actor=manager, name="Checkout", team=team, amount=Decimal(5), chat_webhook_url=f"https://{CHAT_HOST}/hook"
    )

    response = api(manager).patch(
        f"/api/budgets/{budget.pk}/", {"chat_webhook_url": "https://169.254.169.254/latest/"}, format="json"
    )

    assert response.status_code == 400
    assert Budget.objects.get(pk=budget.pk).chat_webhook_url == f"https://{CHAT_HOST}/hook"


@pytest.mark.django_db
def test_an_admins_allow_list_of_chat_hosts_refuses_every_other_host(
    team: Team, manager: User, names: StubResolver, settings: Any
) -> None:
    settings.COSTS_CHAT_WEBHOOK_HOSTS = ["hooks.slack.com", ".webhook.office.com"]

    refused = api(manager).post(
        "/api/budgets/",
        {"name": "x", "team": "checkout", "amount": "5", "chat_webhook_url": f"https://{CHAT_HOST}/hook"},
        format="json",
    )
    allowed = api(manager).post(
        "/api/budgets/",
        {"name": "y", "team": "checkout", "amount": "5", "chat_webhook_url": "https://hooks.slack.com/services/T/B/x"},
        format="json",
    )

    assert refused.status_code == 400
    assert (
        "chat.example.test is not one of the hosts the portal may send to (hooks.slack.com, .webhook.office.com)"
        in (str(refused.json()["error"]["fields"]["chat_webhook_url"]))
    )
    assert allowed.status_code == 201, allowed.json()


# --- when the worker posts --------------------------------------------------------------------------------------


def a_crossed_threshold(team: Team) -> None:
    Ledger().spend(days(date(2026, 11, 1), date(2026, 11, 10)), "55", team=team)  # 55 % of 1000


def test_the_worker_refuses_a_url_stored_before_the_rules_and_the_page_shows_no_status_code(
    start_celery_worker: WorkerFactory, time_machine: TimeMachineFixture, listener: Listener, tmp_path: Path
) -> None:
    ca = TestCA(tmp_path)
    webhook = WebhookServer(ca)
    webhook.answers = [404]
    try:
        # The worker may reach 127.0.0.1 (opened for the test): only the rules, not the network, stop it.
        start_celery_worker(
            env={
                "PORTAL_COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS": "127.0.0.1/32",
                "PORTAL_COSTS_CHAT_RETRIES": "0",
                "SSL_CERT_FILE": str(ca.bundle),
            }
        )
        time_machine.move_to(datetime(2026, 11, 11, 9, tzinfo=UTC))
        team = make_team("checkout")
        manager = person("marco", role=BuiltinRole.MANAGER)
        person("lena", team=team, role=BuiltinRole.TEAM_LEAD, lead=True)
        old, answered = (
            budgets.budget_create(actor=manager, name=name, team=team, amount=Decimal(1000), forecast_thresholds=[])
            for name in ("Old rules", "Answers with an error")
        )
        # Stored before the rules existed (plain http to loopback), and one the rules allow but that answers 404.
        Budget.objects.filter(pk=old.pk).update(chat_webhook_url=f"http://127.0.0.1:{listener.port}{SECRET_PATH}")
        Budget.objects.filter(pk=answered.pk).update(chat_webhook_url=webhook.url("127.0.0.1"))
        a_crossed_threshold(team)

        budgets.budgets_evaluate()
        # The first wait includes the worker's start, slow on a busy machine.
        refused = wait_until(
            lambda: BudgetAlert.objects.filter(budget=old, chat_status=ChatStatus.FAILED).first(), timeout=90
        )
        failed = wait_until(
            lambda: BudgetAlert.objects.filter(budget=answered, chat_status=ChatStatus.FAILED).first(), timeout=30
        )

        assert listener.count() == 0
        assert isinstance(refused, BudgetAlert)
        assert isinstance(failed, BudgetAlert)
        assert (refused.chat_attempts, refused.chat_error) == (1, NOT_ALLOWED)
        assert (failed.chat_attempts, failed.chat_error) == (1, NOT_DELIVERED)
        assert webhook.count() == 1
        client = signed_in(manager)
        for budget, message in ((old, NOT_ALLOWED), (answered, NOT_DELIVERED)):
            page = client.get(reverse("costs:budget", args=[budget.pk])).content.decode().replace("&#x27;", "'")
            assert message in page
            for leak in ("404", "answered", "127.0.0.1", "not-to-be-logged", "ConnectionError"):
                assert leak not in page
    finally:
        webhook.close()


@pytest.mark.django_db
def test_a_name_that_resolves_privately_when_posting_is_refused_and_logged_without_the_path(
    team: Team,
    manager: User,
    listener: Listener,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    time_machine: TimeMachineFixture,
) -> None:
    time_machine.move_to(datetime(2026, 11, 11, 9, tzinfo=UTC))
    # Public when the budget is saved, loopback (where the listener is) when the alert is posted.
    resolver = StubResolver({CHAT_HOST: [[PUBLIC], ["127.0.0.1"]]})
    monkeypatch.setattr(outbound, "system_resolver", resolver)
    url = f"https://{CHAT_HOST}:{listener.port}{SECRET_PATH}"
    budget = budgets.budget_create(
        actor=manager, name="Checkout", team=team, amount=Decimal(1000), forecast_thresholds=[], chat_webhook_url=url
    )
    a_crossed_threshold(team)
    budgets.budgets_evaluate()
    alert = BudgetAlert.objects.get(budget=budget)

    with caplog.at_level(logging.WARNING, logger="costs.budgets.delivery"):
        outcome = post_to_chat("budget_alert", alert.pk)  # the task's own code, in this process

    alert.refresh_from_db()
    assert outcome == "failed"
    assert (alert.chat_status, alert.chat_error) == (ChatStatus.FAILED, NOT_ALLOWED)
    assert listener.count() == 0
    assert resolver.lookups == [CHAT_HOST, CHAT_HOST]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"{CHAT_HOST} resolves to 127.0.0.1, which is a loopback address" in logged
    assert "not-to-be-logged" not in logged
