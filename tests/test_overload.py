"""A request that waited too long for a worker thread (the web tier is overloaded) is answered 503 with
Retry-After at once, before a session or the database is read; one that did not wait is served as always.
The wait is what the image's gunicorn worker measures (portal/workers.py; tests/test_production.py runs it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from portal.demo import Persona
from portal.workers import QUEUED_SECONDS

pytestmark = [pytest.mark.django_db]


def test_a_page_that_queued_past_the_limit_is_turned_away_in_words_without_reading_anything(
    client_for: Callable[[Persona | None], Client], settings: Settings
) -> None:
    settings.REQUEST_QUEUE_TIMEOUT_SECONDS = 2
    browser = client_for(Persona.DEVELOPER)

    with CaptureQueriesContext(connection) as queries:
        response = browser.get("/environments/", **{QUEUED_SECONDS: 2.5})

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "The portal is busy" in page
    assert "turned away rather than kept waiting" in page
    assert len(queries) == 0  # no session, no user, no page: nothing but the answer


def test_an_api_call_that_queued_past_the_limit_gets_the_structured_error(settings: Settings) -> None:
    settings.REQUEST_QUEUE_TIMEOUT_SECONDS = 2

    response = Client().get("/api/environments/", **{QUEUED_SECONDS: 3.0})

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "busy"


@pytest.mark.parametrize(("limit", "waited"), [(2, 1.9), (0, 60.0), (2, None)])
def test_a_request_within_the_limit_or_with_no_limit_or_no_measure_is_served(
    client_for: Callable[[Persona | None], Client], settings: Settings, limit: float, waited: float | None
) -> None:
    settings.REQUEST_QUEUE_TIMEOUT_SECONDS = limit
    browser = client_for(Persona.DEVELOPER)
    extra = {QUEUED_SECONDS: waited} if waited is not None else {}

    response = browser.get("/environments/", **extra)

    assert response.status_code == 200


def test_health_probes_are_answered_however_long_they_queued(settings: Settings) -> None:
    """A pod whose queue is long is overloaded, not dead: its liveness probe must not have it restarted."""
    settings.REQUEST_QUEUE_TIMEOUT_SECONDS = 1

    assert Client().get("/healthz", **{QUEUED_SECONDS: 30.0}).status_code == 200
