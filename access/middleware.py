"""Request middleware of the access app: the audit log's request context, break-glass MFA, session timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django_guid import get_guid

from access.audit.services import RequestContext, acting, client_ip


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


# --- session timeouts ----------------------------------------------------------

SIGNED_IN_AT = "portal.signed_in_at"
LAST_SEEN_AT = "portal.last_seen_at"
# Last activity is saved at most this often, so a busy page does not write the session on every request.
LAST_SEEN_RESOLUTION = 60


@receiver(user_logged_in, dispatch_uid="access.middleware.start_session_clocks")
def _start_session_clocks(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Sign-in (which already gave the session a new key) starts both clocks."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN_AT] = now


class SessionTimeoutMiddleware:
    """Ends a browser session idle for ``SESSION_IDLE_SECONDS`` or older than ``SESSION_MAX_SECONDS``.

    The ended session is flushed; a page request goes to the sign-in page with
    a message, an API request gets 401 in the API error shape. Requests that
    carry their own credentials (``Authorization``) go on without the session.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            now = time.time()
            signed_in_at = float(session.setdefault(SIGNED_IN_AT, now))
            last_seen_at = float(session.setdefault(LAST_SEEN_AT, now))
            reason = self._expired(now, signed_in_at, last_seen_at)
            if reason:
                return self._end(request, reason)
            if now - last_seen_at >= LAST_SEEN_RESOLUTION:
                session[LAST_SEEN_AT] = now
        return self.get_response(request)

    @staticmethod
    def _expired(now: float, signed_in_at: float, last_seen_at: float) -> str:
        if now - signed_in_at > settings.SESSION_MAX_SECONDS:
            hours = settings.SESSION_MAX_SECONDS // 3600
            return f"You were signed out because sessions end {hours} hours after sign-in. Please sign in again."
        if now - last_seen_at > settings.SESSION_IDLE_SECONDS:
            minutes = settings.SESSION_IDLE_SECONDS // 60
            return f"You were signed out after {minutes} minutes without activity. Please sign in again."
        return ""

    def _end(self, request: HttpRequest, reason: str) -> HttpResponse:
        # Not auth.logout(): that signal also ends the person's API clients, which a timed-out tab should not.
        request.session.flush()
        request.user = AnonymousUser()
        if request.headers.get("Authorization"):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            from portal.api.errors import error_body  # imports DRF's views, which load settings-named classes

            return JsonResponse(error_body(401, "session_expired", reason), status=401)
        messages.info(request, reason)
        return redirect_to_login(request.get_full_path())
