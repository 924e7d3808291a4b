"""The Django admin, behind the same policy and the same sign-in as every other page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from access import policy


class PortalAdminSite(admin.AdminSite):
    site_header = "Platform Portal administration"
    site_title = "Platform Portal admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return policy.can(request.user, policy.ADMIN_SITE)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Sign in through allauth's page, so its rate limiting and MFA apply to the admin too.

        Someone signed in but not allowed into the admin gets a 403, not a sign-in loop.
        """
        if request.user.is_authenticated:
            raise PermissionDenied("The admin site is for platform administrators.")
        next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index", current_app=self.name)
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            next_url = reverse("admin:index", current_app=self.name)
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")
