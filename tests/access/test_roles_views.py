"""Roles: permissions in words, custom roles defined and changed by admins, built-in roles fixed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from access.audit import services as audit
from access.models import AuditEvent, Role
from access.permissions import BuiltinRole
from portal.demo import Persona
from tests.factories import GrantFactory, RoleFactory

ClientFor = Callable[[Persona | None], Client]
# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ROLES = reverse("access:roles")


def test_the_role_list_shows_each_permission_in_words(client_for: ClientFor) -> None:
    page = client_for(Persona.AUDITOR).get(ROLES).content.decode()

    assert "Developer" in page
    assert "Request environments" in page
    assert "Everything, in every domain" in page  # the platform admin's "*"


def test_an_admin_defines_a_custom_role_and_it_is_audited(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:role_create"),
        {"slug": "release-manager", "name": "Release manager", "permissions": ["deployments.view", "deployments.*"]},
    )

    role = Role.objects.get(slug="release-manager")
    assert response.status_code == 302
    assert role.permissions == ["deployments.*", "deployments.view"]
    assert not role.builtin
    event = AuditEvent.objects.get(verb=audit.ROLE_CREATED, object_id=str(role.pk))
    assert event.after == {
        "slug": "release-manager",
        "name": "Release manager",
        "description": "",
        "permissions": ["deployments.*", "deployments.view"],
    }


def test_an_unknown_permission_is_refused_with_a_clear_message_and_the_input_kept(client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:role_create"),
        {"slug": "odd", "name": "Odd role", "permissions": ["inventory.view", "rockets.launch"]},
    )

    assert response.status_code == 200
    assert b"Unknown permission: rockets.launch" in response.content
    assert b'value="Odd role"' in response.content
    assert not Role.objects.filter(slug="odd").exists()


def test_an_admin_changes_a_custom_roles_permissions(client_for: ClientFor) -> None:
    role = RoleFactory.create(permissions=["inventory.view"])

    client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:role_edit", args=[role.pk]), {"name": role.name, "permissions": ["costs.view"]}
    )

    role.refresh_from_db()
    assert role.permissions == ["costs.view"]
    assert AuditEvent.objects.filter(verb=audit.ROLE_CHANGED, object_id=str(role.pk)).exists()


def test_a_built_in_role_cannot_be_edited(client_for: ClientFor) -> None:
    developer = Role.objects.get(slug=BuiltinRole.DEVELOPER)

    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("access:role_edit", args=[developer.pk]), {"name": "Developer", "permissions": ["*"]}
    )

    assert response.status_code == 403
    developer.refresh_from_db()
    assert "*" not in developer.permissions


def test_an_unused_custom_role_is_deleted_and_audited(client_for: ClientFor) -> None:
    role = RoleFactory.create()

    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("access:role_delete", args=[role.pk]))

    assert response.status_code == 302
    assert not Role.objects.filter(pk=role.pk).exists()
    assert AuditEvent.objects.filter(verb=audit.ROLE_DELETED, object_id=str(role.pk)).exists()


def test_a_custom_role_in_use_is_kept_with_a_clear_message(client_for: ClientFor) -> None:
    role = RoleFactory.create()
    GrantFactory.create(role=role)

    response = client_for(Persona.PLATFORM_ADMIN).post(reverse("access:role_delete", args=[role.pk]))

    assert response.status_code == 200
    assert b"is in use" in response.content
    assert Role.objects.filter(pk=role.pk).exists()


def test_an_auditor_reads_roles_but_may_not_define_one(client_for: ClientFor) -> None:
    client = client_for(Persona.AUDITOR)

    assert client.get(ROLES).status_code == 200
    assert (
        client.post(reverse("access:role_create"), {"slug": "x", "name": "X", "permissions": ["*"]}).status_code == 403
    )
    assert not Role.objects.filter(slug="x").exists()
