"""A request that waited too long to be served (the web tier is overloaded) is answered 503 with Retry-After at
once, before a session or the database is read; one that did not wait is served as always. The wait is what
the ingress stamped in X-Request-Start when it received the request (tests/test_production.py queues one behind
a busy gunicorn worker)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from portal.demo import Persona

pytestmark = [pytest.mark.django_db]


def stamped(seconds_ago: float) -> dict[str, str]:
    """The header an nginx ingress adds (``proxy_set_header X-Request-Start "t=${msec}"``)."""
    return {"X-Request-Start": f"t={time.time() - seconds_ago:.3f}"}


def test_a_page_that_queued_past_the_limit_is_turned_away_in_words_without_reading_anything(
    client_for: Callable[[Persona | None], Client], settings: Settings
) -> None:
    settings.REQUEST_QUEUE_TIMEOUT_SECONDS = 2
    browser = client_for(Persona.DEVELOPER)

    with CaptureQueriesContext(connection) as queries:
        response = browser.get("/environments/", headers=stamped(2.5))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "The portal is busy" in page
    assert "turned away rather than kept waiting" in page
    assert len(queries) == 0  # no session, no user, no page: nothing but the answer


@pytest.mark.parametrize(
    "written",
    ["t={seconds:.3f}", "{milliseconds}", "t={microseconds}"],
    ids=["nginx seconds", "milliseconds", "microseconds"],
)
def test_an_api_call_that_queued_past_the_limit_gets_the_structured_error_however_the_stamp_is_written(
    settings: Settings, written: str
) -> None:
    settings.REQUEST_QUEUE_TIMEOUT_SECONDS = 2
    received = time.time() - 3
    stamp = written.format(seconds=received, milliseconds=int(received * 1e3), microseconds=int(received * 1e6))

    response = Client().get("/api/environments/", headers={"X-Request-Start": stamp})

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "busy"


@pytest.mark.parametrize(
    ("limit", "stamp"),
    [
        (2, "t={recent}"),
        (0, "t={long_ago}"),
        (2, ""),
        (2, "t=soon"),
        (2, "inf"),
        (2, "nan"),
        (2, "-5"),
        (2, "t="),
        (2, "9" * 400),
        (2, "t=86400"),
        (2, "t={future}"),
    ],
)
def test_a_request_within_the_limit_with_no_limit_or_no_stamp_that_reads_as_time_is_served(
    client_for: Callable[[Persona | None], Client], settings: Settings, limit: float, stamp: str
) -> None:
    settings.REQUEST_QUEUE_TIMEOUT_SECONDS = limit
    browser = client_for(Persona.DEVELOPER)
    now = time.time()
    header = stamp.format(recent=now - 1.5, long_ago=now - 600, future=now + 60)

    response = browser.get("/environments/", headers={"X-Request-Start": header} if header else {})

    assert response.status_code == 200


def test_health_probes_are_answered_however_long_they_queued(settings: Settings) -> None:
    """A pod whose queue is long is overloaded, not dead: its liveness probe must not have it restarted."""
    settings.REQUEST_QUEUE_TIMEOUT_SECONDS = 1

    assert Client().get("/healthz", headers=stamped(30)).status_code == 200
