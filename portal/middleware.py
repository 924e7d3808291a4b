"""Middleware of the portal."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from psycopg import errors as pg_errors

from portal import views
from portal.api.errors import error_body
from portal.api.parsers import NUL, REFUSAL, holds_nul

logger = logging.getLogger(__name__)

PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": views.healthz, "/readyz": views.readyz}


class HealthProbeMiddleware:
    """Answers `/healthz` and `/readyz` before anything checks the Host header
    or redirects to HTTPS: Kubernetes and load-balancer probes call the pod by
    IP, over plain HTTP, and must not be turned away or redirected."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)


# A wait longer than this is a clock that is wrong, not a queue: it counts as no measure.
PLAUSIBLE_WAIT = 24 * 3600


def queued_for(request: HttpRequest) -> float | None:
    """How long ``request`` waited before the portal began on it, in seconds, or None when nobody measured it.

    The measure is ``X-Request-Start``, stamped by the ingress or load balancer in front when it received the
    request: the wait includes the kernel's queue of connections that no worker has accepted yet. It is read
    as nginx (``t=1700000000.123``, seconds), Heroku (milliseconds) and others (microseconds) write it; a stamp
    that reads as no time (malformed, or in the future by a skewed clock) counts as no wait. A forged stamp can
    only have its own request turned away.
    """
    started = request.META.get("HTTP_X_REQUEST_START", "")
    if not started:
        return None
    try:
        stamp = float(started.removeprefix("t=")[:32])
    except ValueError:
        return None
    for scale in (1.0, 1e3, 1e6):  # seconds, milliseconds, microseconds since the epoch
        if 0 < stamp < 1e11 * scale:
            waited = time.time() - stamp / scale
            return max(0.0, waited) if waited < PLAUSIBLE_WAIT else None
    return None  # not a time (NaN, infinite, negative or too large)


class QueueDeadlineMiddleware:
    """A request that waited longer than ``PORTAL_REQUEST_QUEUE_TIMEOUT_SECONDS`` before the portal began on it
    (the web tier is overloaded: its client has likely given up, or soon will) is answered 503 with
    ``Retry-After`` at once, before a session, a user or a query is read: the time goes to requests someone still
    waits for, and the queue drains within seconds once the load drops. See :func:`queued_for` for how the wait
    is known; a request whose wait nobody measured is never refused here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.REQUEST_QUEUE_TIMEOUT_SECONDS
        waited = queued_for(request) if limit else None
        if waited is not None and waited > limit:
            logger.warning("%s %s waited %.1f s to be served and was turned away", request.method, request.path, waited)
            return views.overloaded(request)
        return self.get_response(request)


# What a load balancer or tracing proxy sends (UUIDs, AWS "Root=1-5f8b…", W3C trace ids), bounded in length.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


class RequestIdGuardMiddleware:
    """Drops an incoming ``X-Request-ID`` that is too long or carries characters an id never has,
    so django-guid (next in line) issues a fresh one: the id lands in every log line, audit event
    and error page, where an attacker-chosen megabyte or a forged log line has no place."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.META.get("HTTP_X_REQUEST_ID")
        if given is not None and not REQUEST_ID.fullmatch(given):
            del request.META["HTTP_X_REQUEST_ID"]
        return self.get_response(request)


class DatabaseDeadlineMiddleware:
    """A query that outlived the web tier's deadline (``PORTAL_DB_STATEMENT_TIMEOUT_MS``) was cancelled by
    PostgreSQL: the request answers 503 with ``Retry-After`` (a page, or the API's structured error) instead of a
    500, and the worker is free for the next request rather than finishing work whose client has given up."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not (isinstance(exception, OperationalError) and isinstance(exception.__cause__, pg_errors.QueryCanceled)):
            return None
        logger.warning("a query of %s %s outlived the request deadline and was cancelled", request.method, request.path)
        return views.database_busy(request)


class ApiQueryTextMiddleware:
    """Refuse an API query parameter holding the NUL character (PostgreSQL cannot compare text with it) with the
    API's structured 400, before a view's filter or serializer sends it to the database."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            held = sorted({name for name, values in request.GET.lists() if holds_nul([name, *values])})
            if held:
                body = error_body(
                    400, "invalid", REFUSAL, fields={name.replace(NUL, "") or "query": [REFUSAL] for name in held}
                )
                return JsonResponse(body, status=400)
        return self.get_response(request)
