"""Project-wide views: the dashboard, health probes and error pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseClientRefresh

from portal import health, live
from portal.api.errors import error_body
from portal.home import home_page
from portal.http import signed_in


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The home page: the signed-in person's own work (and the platform at a glance for its admins)."""
    return render(request, "home.html", {"home": home_page(signed_in(request))})


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no backing service on purpose."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: PostgreSQL, Redis and at least one Celery worker, each reported."""
    checks = health.readiness()
    ready = all(check.ok for check in checks)
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
    }
    return JsonResponse(body, status=200 if ready else 503)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def _error(request: HttpRequest, status: int, code: str, title: str, message: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body(status, code, message), status=status)
    context: dict[str, Any] = {"status": status, "title": title, "message": message}
    return render(request, "error.html", context, status=status)


# How long a client is asked to wait before trying a request the database gave up on again (seconds).
BUSY_RETRY_AFTER = 5


def _busy(request: HttpRequest, message: str) -> HttpResponse:
    response = _error(request, 503, "busy", "The portal is busy", message)
    response["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response


def database_busy(request: HttpRequest) -> HttpResponse:
    """The answer when PostgreSQL cancelled a query that outlived the request's deadline: 503, try again soon."""
    return _busy(
        request,
        "This page took too long to prepare and was stopped so others are not kept waiting. Try again in a moment.",
    )


def overloaded(request: HttpRequest) -> HttpResponse:
    """The answer to a request that waited too long to be served (the web tier is overloaded): 503, try again."""
    return _busy(
        request,
        "Too many requests are waiting for the portal just now, so this one was turned away rather than kept "
        "waiting. Try again in a moment.",
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, "bad_request", "Bad request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "permission_denied", "Not allowed", "You do not have access to this page.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request, 404, "not_found", "Page not found", "There is nothing here, or it is outside what you may see."
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(
        request,
        500,
        "server_error",
        "Something went wrong",
        "The error has been logged. Quote the request id below when you report it.",
    )


@login_required
@require_GET
@never_cache
def live_status(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """A waiting page's question "has it changed?": 204 while not, a whole-page reload (htmx) once it has."""
    if live.changed(signed_in(request), kind, pk, request.GET.get("seen", "")[:64]):
        return HttpResponseClientRefresh()
    return HttpResponse(status=204)
