"""The audit log page: search and filter, expand an event, export CSV, and the hash chain's status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from kombu.exceptions import OperationalError

from access import policy
from access.audit import selectors as audit_selectors
from access.audit import services as audit
from access.audit import tasks as audit_tasks
from access.audit.filters import AuditEventFilterSet
from access.models import AuditEvent
from portal.csv_export import csv_lines, csv_stream
from portal.http import HttpRequest

PAGE_SIZE = 50
EXPORT_CHUNK = 2000
CSV_COLUMNS = [
    "id",
    "occurred_at",
    "actor",
    "verb",
    "object_type",
    "object_id",
    "object",
    "team",
    "source_ip",
    "request_id",
    "before",
    "after",
    "extra",
    "previous_hash",
    "hash",
]


def _require_audit_reader(request: HttpRequest) -> None:
    """Nobody but audit readers learns the page exists."""
    if not policy.can(request.user, policy.VIEW, AuditEvent):
        raise Http404("Not found.")


def _cursor(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """Events the user may read, filtered, newest first; htmx requests get only the table."""
    _require_audit_reader(request)
    filterset = AuditEventFilterSet(
        request.GET, queryset=audit_selectors.audit_event_list(user=request.user), request=request
    )
    events = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    page = audit_selectors.audit_event_page(
        events, size=PAGE_SIZE, before=_cursor(request, "before"), after=_cursor(request, "after")
    )
    context = {
        "filterset": filterset,
        "page": page,
        "rows": [(event, audit_selectors.audit_event_details(event)) for event in page.events],
        "query": _query_without_cursor(request),
        "can_export": policy.can(request.user, policy.EXPORT, AuditEvent),
    }
    if request.htmx and request.htmx.target == "audit-table":
        return render(request, "access/audit/_event_table.html", context)
    return render(request, "access/audit/audit_log.html", {**context, "chain": audit_tasks.chain_status()})


def _query_without_cursor(request: HttpRequest) -> str:
    query = request.GET.copy()
    for name in ("before", "after"):
        query.pop(name, None)
    return query.urlencode()


@login_required
@require_GET
def audit_export(request: HttpRequest) -> HttpResponseBase:
    """The filtered events as CSV, streamed, and the export itself recorded with the filters used."""
    policy.require(request.user, policy.EXPORT, AuditEvent)
    filterset = AuditEventFilterSet(
        request.GET,
        queryset=audit_selectors.audit_event_list(user=request.user, action=policy.EXPORT),
        request=request,
    )
    if not filterset.is_valid():
        context = {"filterset": filterset, "page": audit_selectors.EventPage([], None, None), "rows": []}
        response = render(request, "access/audit/audit_log.html", {**context, "chain": audit_tasks.chain_status()})
        response.status_code = 400
        return response
    with transaction.atomic():
        exported = audit.record(audit.AUDIT_EXPORTED, None, filters=filterset.used())
    # Only what existed when the export was asked for: not its own event, nor later ones.
    events = filterset.qs.filter(pk__lt=exported.pk)
    filename = f"audit-log-{timezone.now():%Y%m%d-%H%M%S}.csv"
    return csv_stream(csv_lines(CSV_COLUMNS, _csv_rows(events)), filename=filename)


def _csv_rows(events: QuerySet[AuditEvent]) -> Iterator[list[Any]]:
    for event in events.iterator(chunk_size=EXPORT_CHUNK):
        yield _csv_row(event)


def _csv_row(event: AuditEvent) -> list[Any]:
    return [
        event.pk,
        event.occurred_at.isoformat(),
        event.actor_label,
        event.verb,
        event.object_type,
        event.object_id,
        event.object_repr,
        event.team.slug if event.team is not None else "",
        event.source_ip or "",
        event.request_id,
        _json(event.before),
        _json(event.after),
        _json(event.extra),
        event.previous_hash,
        event.hash,
    ]


def _json(value: Any) -> str:
    return "" if value in (None, {}) else json.dumps(value, ensure_ascii=False, sort_keys=True)


@login_required
@require_http_methods(["GET", "POST"])
def audit_chain(request: HttpRequest) -> HttpResponse:
    """The chain's last verification (GET, polled while one is awaited); POST asks for one now."""
    _require_audit_reader(request)
    error = ""
    if request.method == "POST":
        try:
            audit_tasks.chain_verification_request()
        except OperationalError:
            error = "The task queue cannot be reached, so the chain cannot be verified now. Try again shortly."
        if not request.htmx:
            if error:
                messages.error(request, error)
            return redirect("access:audit")
    return render(request, "access/audit/_chain_status.html", {"chain": audit_tasks.chain_status(), "error": error})
