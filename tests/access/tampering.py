"""Editing the audit log behind the portal's back, as someone with database access could."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django.db import connection
from django.utils import timezone


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


def old_unkeyed_hash(fields: Mapping[str, Any]) -> str:
    """An event's hash exactly as the chain computed it before it was keyed: anyone could compute this.

    ``fields`` holds the stored columns by name (``actor_id``, ``team_id``, ``occurred_at`` as a datetime…).
    """
    body = {
        "occurred_at": fields["occurred_at"].isoformat(),
        "actor": fields.get("actor_id"),
        "actor_label": fields.get("actor_label", ""),
        "verb": fields["verb"],
        "object_type": fields.get("object_type", ""),
        "object_id": fields.get("object_id", ""),
        "object_repr": fields.get("object_repr", ""),
        "team": fields.get("team_id"),
        "source_ip": fields.get("source_ip"),
        "request_id": fields.get("request_id", ""),
        "before": fields.get("before"),
        "after": fields.get("after"),
        "extra": fields.get("extra", {}),
        "previous_hash": fields["previous_hash"],
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


FORGED_INSERT = (
    "INSERT INTO access_auditevent (occurred_at, actor_label, verb, object_type, object_id, object_repr,"
    " request_id, extra, previous_hash, hash) VALUES (%s, '', %s, '', '', %s, '', '{}', %s, %s) RETURNING id"
)


def forged_event(*, verb: str, object_repr: str, previous_hash: str) -> list[Any]:
    """The parameters of :data:`FORGED_INSERT` for a well-formed event with a correct unkeyed hash."""
    occurred_at = timezone.now()
    fields = {"occurred_at": occurred_at, "verb": verb, "object_repr": object_repr, "previous_hash": previous_hash}
    return [occurred_at, verb, object_repr, previous_hash, old_unkeyed_hash(fields)]
