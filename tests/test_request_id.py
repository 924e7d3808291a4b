"""Every request has an id, returned in ``X-Request-ID``, carried by every log
line written while serving it and by every Celery task it enqueues, so one
search finds everything that happened for one request."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import subprocess
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string
from django_guid import clear_guid, set_guid

from portal.health import redis_client
from portal.tasks import PING_KEY, ping
from tests.helpers import wait_until


@pytest.fixture
def console_log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the configured console handler writes, formatted as in production (JSON)
    whatever ``PORTAL_LOG_FORMAT`` the test run has."""
    console = next(handler for handler in logging.getLogger().handlers if handler.get_name() == "console")
    logging_config: dict[str, Any] = settings.LOGGING
    options = dict(logging_config["formatters"]["json"])
    make_formatter = import_string(options.pop("()"))
    output = io.StringIO()
    monkeypatch.setattr(console, "stream", output)
    monkeypatch.setattr(console, "formatter", make_formatter(**options))
    return output


def test_every_response_carries_a_fresh_request_id(client: Client) -> None:
    first = client.get("/sign-in/")
    second = client.get("/sign-in/")

    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_an_incoming_request_id_is_kept_and_returned(client: Client) -> None:
    response = client.get("/sign-in/", HTTP_X_REQUEST_ID="from-the-load-balancer-42")

    assert response["X-Request-ID"] == "from-the-load-balancer-42"


@pytest.mark.parametrize(
    "given",
    ["x" * 129, "forged\nINFO admin signed in", "<script>alert(1)</script>", "id with spaces", ""],
    ids=["too-long", "newline", "markup", "spaces", "empty"],
)
def test_an_incoming_request_id_that_no_proxy_would_send_is_replaced_by_a_fresh_one(client: Client, given: str) -> None:
    response = client.get("/sign-in/", HTTP_X_REQUEST_ID=given)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_a_load_balancers_trace_id_is_kept(client: Client) -> None:
    trace = "Root=1-67891233-abcdef012345678912345678"

    assert client.get("/sign-in/", HTTP_X_REQUEST_ID=trace)["X-Request-ID"] == trace


@pytest.mark.django_db
def test_log_lines_written_while_serving_a_request_carry_its_id(client: Client, console_log: io.StringIO) -> None:
    client.get("/no-such-page/", HTTP_X_REQUEST_ID="trace-me-123")

    lines = [json.loads(line) for line in console_log.getvalue().splitlines()]
    assert {"level": "WARNING", "logger": "django.request", "message": "Not Found: /no-such-page/"} in [
        {name: line[name] for name in ("level", "logger", "message")} for line in lines
    ]
    assert {line["request_id"] for line in lines} == {"trace-me-123"}


def test_a_task_runs_under_the_request_id_of_the_request_that_enqueued_it(
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    token = secrets.token_hex(8)
    set_guid("request-that-enqueued-the-task")
    try:
        ping.delay(token)
    finally:
        clear_guid()

    seen = wait_until(lambda: redis_client().get(PING_KEY + token))

    assert seen == b"request-that-enqueued-the-task"
