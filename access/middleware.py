"""Request-scoped context for the audit log: who acts, from which address, under which request id."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django_guid import get_guid

from access.audit import RequestContext, acting, client_ip


class AuditContextMiddleware:
    """Every audit event recorded while handling a request carries its actor, IP and request id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = RequestContext(source_ip=client_ip(request), request_id=get_guid() or "", request=request)
        with acting(context):
            return self.get_response(request)
