"""Request-scoped context for the audit log: who acts, from which address, under which request id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
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


# Pages a superuser without MFA may still open: enrolling MFA itself, and signing out.
_MFA_ENROLMENT_PAGES = {
    "mfa_activate_totp",
    "mfa_index",
    "mfa_view_recovery_codes",
    "mfa_generate_recovery_codes",
    "mfa_download_recovery_codes",
    "mfa_reauthenticate",
    "account_reauthenticate",
    "account_logout",
}


class BreakGlassMfaMiddleware:
    """A superuser (the break-glass account) must enrol TOTP before using the portal.

    Until the account has an authenticator, every page sends it to allauth's
    TOTP activation page; after that, allauth asks for a code at every sign-in.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        user = request.user
        if not (user.is_authenticated and user.is_superuser):
            return None
        match = request.resolver_match
        if match is not None and match.url_name in _MFA_ENROLMENT_PAGES:
            return None
        from allauth.mfa.models import Authenticator

        if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            return None
        return redirect("mfa_activate_totp")
