from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from access.models import Membership, Team, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    list_display = ["username", "email", "persona", "is_active", "is_staff"]
    list_filter = ["persona", "is_active", "is_staff"]
    fieldsets = (*(DjangoUserAdmin.fieldsets or ()), ("Portal", {"fields": ("persona",)}))


class MembershipInline(admin.TabularInline[Membership, Team]):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]
