"""The Django admin is for emergencies; daily access work happens on the portal's Access pages."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from access.models import AuditEvent, Grant, Membership, Role, SsoRule, Team, User
from regions import residency


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
