"""Reads of the audit log, always scoped by the policy.

The log grows without bound (a million events is normal after a few years),
so pages are cut by keyset on the primary key, never by OFFSET, and no page
counts the whole log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from access import policy
from access.models import AuditEvent, User

AnyUser = User | AnonymousUser


def audit_event_list(*, user: AnyUser, action: str = policy.VIEW) -> QuerySet[AuditEvent]:
    """The events ``user`` may ``action`` (view or export), newest first."""
    return policy.restrict(AuditEvent.objects.all(), user, action).select_related("team").order_by("-pk")


@dataclass(frozen=True)
class EventPage:
    """One page of events, newest first, with the cursors of its neighbours (None: no such page)."""

    events: list[AuditEvent]
    newer_than: int | None
    older_than: int | None


def audit_event_page(
    events: QuerySet[AuditEvent], *, size: int, before: int | None = None, after: int | None = None
) -> EventPage:
    """A keyset page of ``events``: those older than ``before``, or newer than ``after``, or the newest.

    Each page is one indexed range scan on the primary key, as fast for the
    millionth event as for the first.
    """
    if after is not None:
        rows = list(events.filter(pk__gt=after).order_by("pk")[: size + 1])
        more_newer = len(rows) > size
        page = list(reversed(rows[:size]))
        return EventPage(page, page[0].pk if page and more_newer else None, page[-1].pk if page else None)
    if before is not None:
        events = events.filter(pk__lt=before)
    rows = list(events[: size + 1])
    page = rows[:size]
    older = page[-1].pk if page and len(rows) > size else None
    newer = page[0].pk if page and before is not None else None
    return EventPage(page, newer, older)


@dataclass(frozen=True)
class Change:
    """One field of an event's before/after, as text a person can read."""

    field: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def readable(value: Any) -> str:
    """A JSON value as short text: strings as they are, the rest as compact JSON; missing as an empty string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def audit_event_changes(event: AuditEvent) -> list[Change]:
    """The fields in ``before`` or ``after``, in name order, each with its old and new value."""
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    return [
        Change(name, readable(before.get(name)), readable(after.get(name))) for name in sorted(set(before) | set(after))
    ]
