"""Small helpers for tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 20, interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def queries_for(client: Client, path: str, params: dict[str, str] | None = None) -> int:
    """How many database queries a successful GET of ``path`` runs."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params or {})
    assert response.status_code == 200
    return len(captured.captured_queries)


def database_url(name: str) -> str:
    """A URL for database ``name`` on the test database's server, as another process's DATABASE_URL."""
    database = settings.DATABASES["default"]
    host = quote(str(database.get("HOST") or ""), safe="")
    port = f":{database['PORT']}" if database.get("PORT") else ""
    password = f":{quote(str(database['PASSWORD']), safe='')}" if database.get("PASSWORD") else ""
    return f"postgresql://{quote(str(database.get('USER') or ''), safe='')}{password}@{host}{port}/{name}"
