"""The Django admin, behind the same policy as every other page."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from access import policy


class PortalAdminSite(admin.AdminSite):
    site_header = "Platform Portal administration"
    site_title = "Platform Portal admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return policy.can(request.user, policy.ADMIN_SITE)
