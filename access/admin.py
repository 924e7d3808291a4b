"""The Django admin is for emergencies; daily access work happens on the portal's Access pages."""

from typing import Any

import allauth.socialaccount.admin  # noqa: F401  (registers allauth's admin first, so ours can replace it below)
from allauth.socialaccount.models import SocialAccount
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from access import services
from access.models import AuditEvent, Grant, Membership, Role, SsoRule, Team, User
from regions.residency import report as residency


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    list_display = ["username", "email", "is_active", "is_superuser"]
    list_filter = ["is_active", "is_superuser"]


class MembershipInline(admin.TabularInline[Membership, Team]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class TeamAdminForm(forms.ModelForm[Team]):
    """The emergency door keeps the residency rule: no binding a team to a zone its live environments are not in."""

    class Meta:
        model = Team
        fields = ["name", "slug", "description", "residency_zone"]

    def clean_residency_zone(self) -> str:
        zone: str = self.cleaned_data.get("residency_zone", "")
        if self.instance.pk is not None and zone != self.instance.residency_zone:
            refusal = residency.team_zone_refusal(team=self.instance, zone=zone)
            if refusal is not None:
                raise forms.ValidationError(refusal)
        return zone


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    form = TeamAdminForm
    list_display = ["name", "slug", "residency_zone"]
    list_filter = ["residency_zone"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin[Role]):
    list_display = ["name", "slug", "builtin", "everyone"]


@admin.register(Grant)
class GrantAdmin(admin.ModelAdmin[Grant]):
    """Read-only: grants change through the portal's services, which audit them."""

    list_display = ["role", "user", "grantee_team", "team", "zone", "expires_at", "revoked_at", "source"]
    list_filter = ["role", "source"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(SsoRule)
class SsoRuleAdmin(admin.ModelAdmin[SsoRule]):
    list_display = ["name", "provider", "claim", "value", "team", "role", "enabled"]


@admin.register(AuditEvent)
class AuditEventAdmin(GrantAdmin):
    list_display = ["occurred_at", "actor_label", "verb", "object_repr", "source_ip", "request_id"]
    list_filter = ["verb"]
    # The log grows without bound: no full count on every page (the portal's audit page pages by id).
    show_full_result_count = False


def configured_providers() -> list[tuple[str, str]]:
    """The identity providers of ``PORTAL_SSO_PROVIDERS``, as (id, name) choices."""
    apps = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
    return [(app["provider_id"], app.get("name") or app["provider_id"]) for app in apps]


class SocialAccountForm(forms.ModelForm[SocialAccount]):
    """Which IdP identity (a configured provider and the person's immutable id there) belongs to which account."""

    provider = forms.ChoiceField(label="Identity provider", choices=configured_providers)

    class Meta:
        model = SocialAccount
        fields = ["user", "provider", "uid"]
        labels = {"uid": "Subject"}
        help_texts = {
            "uid": "The person's immutable id at the IdP: for Entra ID tid:oid (tenant and object id), "
            "otherwise the sub claim. Never an e-mail address.",
        }


# allauth's own admin would save links and moves with nothing but the admin's generic log entry.
admin.site.unregister(SocialAccount)


@admin.register(SocialAccount)
class SocialAccountAdmin(admin.ModelAdmin[SocialAccount]):
    """Linking an IdP identity to an account, moving it to another or unlinking it: audited with both accounts.

    An identity linked to an account signs into it, sets its e-mail and drives its SSO
    grants, and nobody can link one to their own account; this is the one place to do it.
    """

    form = SocialAccountForm
    list_display = ["user", "provider", "uid", "last_login"]
    list_filter = ["provider"]
    list_select_related = ["user"]
    search_fields = ["uid", "user__username", "user__email"]
    raw_id_fields = ["user"]
    readonly_fields = ["last_login", "date_joined", "extra_data"]

    def save_model(self, request: HttpRequest, obj: SocialAccount, form: Any, change: bool) -> None:
        services.identity_link(actor=_admin(request), account=obj)

    def delete_model(self, request: HttpRequest, obj: SocialAccount) -> None:
        services.identity_unlink(actor=_admin(request), account_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SocialAccount]) -> None:
        for account_id in queryset.values_list("pk", flat=True):
            services.identity_unlink(actor=_admin(request), account_id=account_id)


def _admin(request: HttpRequest) -> User:
    """The person acting in the admin (the admin site lets nobody else in)."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user
