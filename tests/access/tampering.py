"""Editing the audit log behind the portal's back, as someone with database access could."""

from __future__ import annotations

from typing import Any

from django.db import connection


def tamper(sql: str, params: list[Any] | None = None) -> None:
    """Run ``sql`` on the audit table with its append-only trigger disabled, then re-enable it.

    Deferred foreign-key checks are run first: PostgreSQL refuses ALTER TABLE
    while a table has pending trigger events.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE access_auditevent DISABLE TRIGGER access_auditevent_append_only")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE access_auditevent ENABLE ALWAYS TRIGGER access_auditevent_append_only")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
