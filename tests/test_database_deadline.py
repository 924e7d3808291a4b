"""A page stuck behind a query that outlived the web tier's deadline answers 503 with Retry-After (a page in
words, or the API's structured error), not a 500, and the worker is free again at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import path

from portal import urls as portal_urls

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


def slow(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(5)")
    return JsonResponse({"done": True})


def broken(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM access_team")
    return JsonResponse({"done": True})


urlpatterns = [path("slow/", slow), path("api/slow/", slow), path("broken/", broken), *portal_urls.urlpatterns]


@pytest.fixture
def deadline() -> Iterator[None]:
    """What PORTAL_DB_STATEMENT_TIMEOUT_MS gives a web process's connections, at 200 ms."""
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 200")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET statement_timeout")


def test_a_page_past_its_deadline_says_the_portal_is_busy_and_when_to_try_again(deadline: None) -> None:
    response = Client(raise_request_exception=False).get("/slow/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "The portal is busy" in page
    assert "Try again in a moment" in page
    assert "Traceback" not in page
    assert "QueryCanceled" not in page
    with connection.cursor() as cursor:  # the connection serves the next request
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_an_api_call_past_its_deadline_gets_the_structured_error(deadline: None) -> None:
    response = Client(raise_request_exception=False).get("/api/slow/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "busy"


def test_other_database_errors_are_not_taken_for_a_busy_portal() -> None:
    response = Client(raise_request_exception=False).get("/broken/")

    assert response.status_code == 500
