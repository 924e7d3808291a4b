"""The application's database role: owns nothing, may only INSERT and SELECT the audit log.

The suite itself connects as the owner (it creates its databases, and flushes
them); these tests create an application role as ``migrate`` does, log in as
it over a connection of its own, and try what someone holding the
application's database credentials would try.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from access.audit import services as audit
from access.models import AuditEvent
from portal.database_roles import RoleError, application_role_provision
from tests.access.tampering import FORGED_INSERT, forged_event, old_unkeyed_hash
from tests.factories import TeamFactory, audit_events
from tests.helpers import database_url

ROOT = Path(__file__).resolve().parent.parent.parent
AUDIT_TABLE = "access_auditevent"

pytestmark = pytest.mark.django_db(transaction=True)


def _drop_role(role: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def app_role() -> Iterator[tuple[str, str]]:
    """A new application role, made as migrate makes it, with its password; dropped afterwards."""
    role, password = f"portal_app_test_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    done = application_role_provision(role=role, password=password, append_only=[AUDIT_TABLE])
    assert done.created
    yield role, password
    _drop_role(role)


def connect_as(role: str, password: str, database: str | None = None) -> psycopg.Connection[Any]:
    """A connection of its own, logged in as ``role``, to the test database's server."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=database or settings["NAME"],
        user=role,
        password=password,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
    )


def refused(session: psycopg.Connection[Any], sql: str, params: list[Any] | None = None) -> str:
    """The error PostgreSQL answers ``sql`` with; fails the test when it is carried out."""
    with pytest.raises(psycopg.Error) as error:
        session.execute(sql, params)
    return str(error.value)


# --- what the role may and may not do ------------------------------------------------------------


def test_the_application_role_owns_nothing_and_may_only_insert_and_select_the_audit_log(
    app_role: tuple[str, str],
) -> None:
    role, password = app_role

    with connect_as(role, password) as session:
        owned = session.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            [role],
        ).fetchall()
        attributes = session.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        privileges = {
            (table, privilege): session.execute(
                "SELECT has_table_privilege(current_user, %s, %s)", [table, privilege]
            ).fetchone()[0]  # type: ignore[index]
            for table in (AUDIT_TABLE, "access_team", "django_migrations")
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
        }

    assert owned == []
    assert attributes == (False, False, False, False)
    assert {privilege for (table, privilege), held in privileges.items() if table == AUDIT_TABLE and held} == {
        "SELECT",
        "INSERT",
    }
    assert {privilege for (table, privilege), held in privileges.items() if table == "access_team" and held} == {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
    }
    assert {privilege for (table, privilege), held in privileges.items() if table == "django_migrations" and held} == {
        "SELECT"
    }


def test_the_application_role_cannot_switch_off_drop_or_replace_the_append_only_triggers(
    app_role: tuple[str, str],
) -> None:
    role, password = app_role

    with connect_as(role, password) as session:
        for sql in (
            "ALTER TABLE access_auditevent DISABLE TRIGGER access_auditevent_append_only",
            "ALTER TABLE access_auditevent DISABLE TRIGGER access_auditevent_no_truncate",
            "ALTER TABLE access_auditevent DISABLE TRIGGER ALL",
            "DROP TRIGGER access_auditevent_append_only ON access_auditevent",
            "DROP TABLE access_auditevent",
            "ALTER TABLE access_auditevent OWNER TO CURRENT_USER",
        ):
            assert re.search("must be owner of (table|relation) access_auditevent", refused(session, sql)), sql
        # It may not even create objects in the schema, let alone replace the owner's function.
        assert re.search(
            "permission denied for schema public|must be owner of function",
            refused(
                session,
                "CREATE OR REPLACE FUNCTION access_auditevent_append_only() RETURNS trigger"
                " AS $$ BEGIN RETURN NULL; END; $$ LANGUAGE plpgsql",
            ),
        )
        # A superuser could make a session skip every ordinary trigger; this role cannot.
        assert "permission denied to set parameter" in refused(session, "SET session_replication_role = replica")


def test_the_application_role_cannot_update_delete_or_truncate_an_event(app_role: tuple[str, str]) -> None:
    role, password = app_role
    (event,) = audit_events(1, team=TeamFactory.create())

    with connect_as(role, password) as session:
        for sql in (
            "UPDATE access_auditevent SET object_repr = 'rewritten' WHERE id = %s",
            "DELETE FROM access_auditevent WHERE id = %s",
        ):
            assert "permission denied for table access_auditevent" in refused(session, sql, [event.pk]), sql
        assert "permission denied for table access_auditevent" in refused(session, "TRUNCATE access_auditevent")
        # A team it may delete is still held by the event that names it.
        assert "violates foreign key constraint" in refused(
            session, "DELETE FROM access_team WHERE id = %s", [event.team_id]
        )

    event.refresh_from_db()
    assert event.object_repr == ""


def test_an_event_the_application_role_forges_with_the_old_unkeyed_hash_is_caught(app_role: tuple[str, str]) -> None:
    role, password = app_role
    events = audit_events(2)

    with connect_as(role, password) as session:
        (forged_id,) = session.execute(
            FORGED_INSERT,
            forged_event(verb=audit.GRANT_CREATED, object_repr="admin for me", previous_hash=events[-1].hash),
        ).fetchone()  # type: ignore[misc]

    check = audit.verify_chain()
    assert (check.verified, check.first_bad_event, check.problem) == (False, forged_id, audit.UNSIGNED)


# --- provisioning refuses a role that could bypass -------------------------------------------------


def test_a_role_that_owns_a_table_is_refused_as_the_application_role(app_role: tuple[str, str]) -> None:
    role, _ = app_role
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE owned_by_the_app (id int); ALTER TABLE owned_by_the_app OWNER TO "{role}"')

    with pytest.raises(RoleError, match=f"The application's role {role} owns .*owned_by_the_app"):
        application_role_provision(role=role, append_only=[AUDIT_TABLE])


def test_a_role_that_inherits_the_owner_of_the_audit_log_is_refused(app_role: tuple[str, str]) -> None:
    role, _ = app_role
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableowner FROM pg_tables WHERE tablename = %s", [AUDIT_TABLE])
        (owner,) = cursor.fetchone()
        cursor.execute(f'GRANT "{owner}" TO "{role}"')

    with pytest.raises(RoleError, match="owns \\(or inherits the owner of\\)"):
        application_role_provision(role=role, append_only=[AUDIT_TABLE])


def test_the_owner_itself_is_refused_as_the_application_role() -> None:
    with pytest.raises(RoleError, match="the role that migrates and owns the tables"):
        application_role_provision(role=str(connection.settings_dict["USER"]), append_only=[AUDIT_TABLE])


def test_an_owner_that_may_not_create_roles_says_to_create_the_application_role_first() -> None:
    owner = f"portal_owner_test_{uuid.uuid4().hex[:10]}"
    missing = f"portal_app_missing_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{owner}" NOCREATEROLE')
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'SET ROLE "{owner}"')  # as on managed PostgreSQL: an owner without CREATEROLE
        with pytest.raises(RoleError) as error:
            application_role_provision(role=missing, append_only=[AUDIT_TABLE])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
        _drop_role(owner)

    assert str(error.value) == (
        f"The application's role {missing} does not exist and {owner} may not create roles: "
        f"create it (CREATE ROLE {missing} LOGIN PASSWORD '…'), then run migrate again."
    )


# --- migrate as the owner, run as the application: `make run` and docker compose ----------------------


def test_migrate_as_the_owner_creates_the_application_role_that_the_portal_then_runs_as() -> None:
    database = f"portal_roles_{uuid.uuid4().hex[:10]}"
    role, password = f"portal_app_test_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    owner_url = database_url(database)
    server = owner_url.split("://", 1)[1].split("@", 1)[1]
    # As `make run` and docker compose start the portal: only migrate knows the owner's URL.
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "TEST_DATABASE_NAME": "",
        "DATABASE_URL": f"postgresql://{role}:{password}@{server}",
    }
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    try:
        migrated = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input"],
            cwd=ROOT,
            env={**environment, "PORTAL_DATABASE_OWNER_URL": owner_url},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert migrated.returncode == 0, migrated.stderr
        assert f"Application role {role}: created and granted the use of every table" in migrated.stdout

        # The portal as its own role: it records an event, verifies the log and writes the checkpoint.
        verified = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "--no-imports",
                "-c",
                "from access.audit import services as audit;"
                "audit.record(audit.TEAM_CHANGED, object_repr='as the app');"
                "from django.core.management import call_command; call_command('audit_verify')",
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout.startswith("The audit log verifies: 1 event; checkpoint at event #")

        with connect_as(role, password, database) as session:
            assert session.execute("SELECT current_user").fetchone() == (role,)
            assert session.execute("SELECT count(*) FROM access_auditevent").fetchone() == (1,)
            assert "permission denied" in refused(session, "DELETE FROM access_auditevent")
            assert "must be owner" in refused(session, "ALTER TABLE access_auditevent DISABLE TRIGGER ALL")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cursor.execute(f'DROP ROLE IF EXISTS "{role}"')


# --- an installation upgraded from the unkeyed chain --------------------------------------------------


def test_an_existing_unkeyed_log_is_sealed_by_the_upgrade_and_still_verifies() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("access", "0006_team_zone_help")])
    previous = audit.GENESIS
    try:
        with connection.cursor() as cursor:
            for number in range(3):
                fields: dict[str, Any] = {
                    "occurred_at": timezone.now(),
                    "verb": audit.SIGN_IN,
                    "object_repr": f"before the upgrade {number}",
                    "previous_hash": previous,
                }
                previous = old_unkeyed_hash(fields)
                cursor.execute(
                    "INSERT INTO access_auditevent (occurred_at, actor_label, verb, object_type, object_id,"
                    " object_repr, request_id, extra, previous_hash, hash)"
                    " VALUES (%s, '', %s, '', '', %s, '', '{}', %s, %s)",
                    [fields["occurred_at"], fields["verb"], fields["object_repr"], fields["previous_hash"], previous],
                )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    seal = AuditEvent.objects.order_by("-pk").first()
    assert seal is not None
    assert (seal.verb, seal.previous_hash, seal.key_id) == (audit.AUDIT_CHAIN_KEYED, previous, audit.signing_key().id)
    audit_events(2)
    assert audit.verify_chain().verified
    assert AuditEvent.objects.filter(key_id="").count() == 3, "the old hashes are kept as they were exported"
