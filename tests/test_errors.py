"""Errors a person or an API client can cause get a styled page or a structured
JSON error with the request id, never a stack trace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from access.models import User
from portal.demo import Persona

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo


def assert_api_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The one API error shape, carrying the same request id as the response header."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response["X-Request-ID"]
    return dict(body["error"])


def assert_no_traceback(html: str) -> None:
    assert "Traceback" not in html
    assert 'File "' not in html


# --- pages -----------------------------------------------------------------


def test_an_unknown_page_shows_a_signed_in_person_the_styled_not_found_page(
    client_for: Callable[[Persona | None], Client],
) -> None:
    response = client_for(Persona.DEVELOPER).get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "Platform Portal" in html
    assert 'aria-label="Main"' in html
    assert "Sign out" in html
    assert response["X-Request-ID"] in html
    assert_no_traceback(html)


def test_an_unknown_page_is_a_styled_not_found_page_for_an_anonymous_visitor_too(client: Client) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "Sign out" not in html
    assert_no_traceback(html)


def test_a_crash_in_a_page_shows_the_styled_error_page_with_the_request_id(
    persona: Callable[[Persona], User], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the home page query fell over")

    monkeypatch.setattr("portal.views.home_page", crash)
    client = Client(raise_request_exception=False)
    client.force_login(persona(Persona.DEVELOPER))

    response = client.get("/")

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "Platform Portal" in html
    assert f"Request id: <code>{response['X-Request-ID']}</code>" in html
    assert "the home page query fell over" not in html
    assert_no_traceback(html)


# --- API -------------------------------------------------------------------


def test_an_unknown_api_url_is_a_json_not_found_error(client_for: Callable[[Persona | None], Client]) -> None:
    response = client_for(Persona.DEVELOPER).get("/api/no-such-thing/")

    assert_api_error(response, 404, "not_found")


def test_a_missing_api_object_is_a_json_not_found_error(client_for: Callable[[Persona | None], Client]) -> None:
    response = client_for(Persona.DEVELOPER).get("/api/regions/999999/")

    assert_api_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("residency_zone=XX", "residency_zone"),
        ("status=bogus", "status"),
        ("account=not-a-number", "account"),
    ],
)
def test_a_malformed_filter_is_a_structured_400_naming_the_parameter(
    client_for: Callable[[Persona | None], Client], query: str, parameter: str
) -> None:
    response = client_for(Persona.DEVELOPER).get(f"/api/regions/?{query}")

    error = assert_api_error(response, 400, "invalid")
    assert list(error["fields"]) == [parameter]
    assert error["fields"][parameter]


def test_posting_to_a_read_only_endpoint_is_a_structured_405(
    client_for: Callable[[Persona | None], Client],
) -> None:
    # A platform admin passes the permission check, so the method itself is refused.
    response = client_for(Persona.PLATFORM_ADMIN).post(
        "/api/regions/", {"code": "eu-south-1"}, content_type="application/json"
    )

    error = assert_api_error(response, 405, "method_not_allowed")
    assert "POST" in error["message"]


def test_an_anonymous_api_request_is_a_structured_401_asking_for_a_bearer_token(client: Client) -> None:
    response = client.get("/api/regions/")

    assert_api_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_crash_in_an_api_view_is_a_structured_500_without_details(
    persona: Callable[[Persona], User], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(**kwargs: object) -> None:
        raise RuntimeError("the region query fell over")

    monkeypatch.setattr("regions.api.views.RegionViewSet.selector", crash)
    client = Client(raise_request_exception=False)
    client.force_login(persona(Persona.DEVELOPER))

    response = client.get("/api/regions/")

    error = assert_api_error(response, 500, "server_error")
    assert "fell over" not in response.content.decode()
    assert "fields" not in error
