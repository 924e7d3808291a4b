"""`/healthz` (liveness) and `/readyz` (readiness), as load balancers and
Kubernetes probes call them: anonymously, over plain HTTP, by IP."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries, Settings

from portal import health
from tests.helpers import wait_until


@pytest.fixture
def no_worker_heartbeats() -> None:
    """Forget heartbeats left by workers of earlier tests (they lapse only after three beats)."""
    client = health.redis_client()
    for key in client.scan_iter(match=health.HEARTBEAT_KEY + "*"):
        client.delete(key)


def checks(response: Any) -> dict[str, bool]:
    return {name: check["ok"] for name, check in response.json()["checks"].items()}


@pytest.mark.django_db
def test_healthz_answers_ok_without_touching_the_database(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@pytest.mark.usefixtures("no_worker_heartbeats")
def test_readyz_is_not_ready_while_no_worker_runs(client: Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert checks(response) == {"database": True, "redis": True, "worker": False}
    assert body["checks"]["worker"]["detail"] == "no Celery worker heartbeat"


def test_readyz_becomes_ready_once_a_worker_runs(
    no_worker_heartbeats: None, celery_worker_process: subprocess.Popen[bytes], client: Client
) -> None:
    wait_until(lambda: client.get("/readyz").status_code == 200)

    response = client.get("/readyz")

    assert response.json()["status"] == "ready"
    assert checks(response) == {"database": True, "redis": True, "worker": True}


@pytest.mark.django_db
def test_readyz_reports_an_unreachable_redis_instead_of_failing(client: Client, settings: Settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert checks(response) == {"database": True, "redis": False, "worker": False}
    assert body["checks"]["redis"]["detail"].startswith("unreachable")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_anonymously_and_never_send_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code in {200, 503}
    assert response["Content-Type"] == "application/json"
    assert "Location" not in response


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_over_plain_http_when_https_is_enforced(client: Client, settings: Settings, path: str) -> None:
    settings.SECURE_SSL_REDIRECT = True
    # The same settings do send a page to HTTPS, so the redirect is really on.
    assert client.get("/sign-in/").status_code == 301

    response = client.get(path)

    assert response.status_code in {200, 503}
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_whatever_the_host_header(client: Client, path: str) -> None:
    # Kubernetes probes call the pod by IP, which is not in ALLOWED_HOSTS.
    response = client.get(path, HTTP_HOST="10.1.2.3:8000")

    assert response.status_code in {200, 503}
    assert response["Content-Type"] == "application/json"
