"""Two database roles: the owner, which migrates, and the application's, which owns nothing.

Whoever owns a table can switch its triggers off (``ALTER TABLE … DISABLE
TRIGGER``), drop them, or TRUNCATE it; a superuser can also skip triggers
with ``session_replication_role``. So the application, whose credentials sit
in every web and worker process, must not connect as the owner nor as a
superuser, or the audit log's append-only triggers protect nothing.

``manage.py migrate`` connects as ``PORTAL_DATABASE_OWNER_URL`` when it is
set (:func:`as_owner`), and after every migrate :func:`application_role_provision`
makes the role of ``DATABASE_URL`` the application's role: created when it
does not exist and the owner may create roles (``CREATEROLE`` or superuser;
on managed PostgreSQL an administrator may have to create it instead), then
granted SELECT, INSERT, UPDATE and DELETE on every table and the use of
every sequence, except the append-only tables (SELECT and INSERT only) and
the read-only ones (SELECT). It refuses a role that is a superuser, owns a
table, or inherits the privileges of an owner. Re-run on every migrate, it
covers the tables later migrations add.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dj_database_url
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.utils import CursorWrapper

# Tables the application may only read: the migration history is the owner's to write.
READ_ONLY_TABLES = ("django_migrations",)
_ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


class RoleError(ImproperlyConfigured):
    """The application's role cannot be made safe; the message says what to do."""


@contextmanager
def as_owner(alias: str = "default") -> Iterator[None]:
    """Connect ``alias`` as ``PORTAL_DATABASE_OWNER_URL`` for the block (migrate), then as before."""
    connection = connections[alias]
    if not settings.DATABASE_OWNER_URL:
        yield
        return
    owner = dj_database_url.parse(settings.DATABASE_OWNER_URL)
    if owner["NAME"] != connection.settings_dict["NAME"]:
        raise RoleError(
            f"PORTAL_DATABASE_OWNER_URL names database {owner['NAME']!r} but DATABASE_URL names "
            f"{connection.settings_dict['NAME']!r}: both must name the same database."
        )
    names = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    saved = {name: connection.settings_dict.get(name) for name in names}
    connection.close()
    connection.settings_dict.update({name: owner.get(name) or ({} if name == "OPTIONS" else "") for name in names})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


@dataclass
class Provisioned:
    """What :func:`application_role_provision` did, for migrate's output."""

    role: str
    created: bool = False
    append_only: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        made = "created and granted" if self.created else "granted"
        tables = ", ".join(self.append_only) or "none"
        return f"Application role {self.role}: {made} the use of every table; SELECT and INSERT only on {tables}."


def application_role_provision(
    *, role: str, password: str = "", append_only: Iterable[str], using: str = "default"
) -> Provisioned:
    """Create (if allowed and missing) and grant the application's role, connected as the owner."""
    if not _ROLE_NAME.fullmatch(role):
        raise RoleError(f"{role!r} cannot be the application's role: use letters, digits and underscores.")
    connection = connections[using]
    quote = connection.ops.quote_name
    append_only = list(append_only)
    done = Provisioned(role, append_only=append_only)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_schema(), current_database()")
        owner, schema, database = cursor.fetchone()
        if role == owner:
            raise RoleError(
                f"DATABASE_URL connects as {role}, the role that migrates and owns the tables: give the "
                "application a role of its own (docs/operations.md, “Database roles”)."
            )
        cursor.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        (may_create,) = cursor.fetchone()
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
        existing = cursor.fetchone()
        if existing is None:
            if not may_create:
                raise RoleError(
                    f"The application's role {role} does not exist and {owner} may not create roles: "
                    f"create it (CREATE ROLE {role} LOGIN PASSWORD '…'), then run migrate again."
                )
            attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
            if password:
                cursor.execute(f"CREATE ROLE {quote(role)} {attributes} PASSWORD %s", [password])
            else:
                cursor.execute(f"CREATE ROLE {quote(role)} {attributes}")
            done.created = True
        elif existing[0] or existing[1]:
            raise RoleError(
                f"The application's role {role} is a superuser or bypasses row security: it could switch the "
                "audit log's triggers off. Give the application an ordinary role."
            )
        _refuse_an_owning_role(cursor, role=role, schema=schema)
        cursor.execute(f"GRANT CONNECT ON DATABASE {quote(database)} TO {quote(role)}")
        cursor.execute(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {quote(role)}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quote(schema)} TO {quote(role)}")
        cursor.execute(
            f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {quote(schema)} FROM {quote(role)}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(schema)} TO {quote(role)}")
        for table in append_only:
            cursor.execute(f"REVOKE ALL ON {quote(table)} FROM {quote(role)}")
            cursor.execute(f"GRANT SELECT, INSERT ON {quote(table)} TO {quote(role)}")
        for table in READ_ONLY_TABLES:
            cursor.execute(f"REVOKE ALL ON {quote(table)} FROM {quote(role)}")
            cursor.execute(f"GRANT SELECT ON {quote(table)} TO {quote(role)}")
    return done


def _refuse_an_owning_role(cursor: CursorWrapper, *, role: str, schema: str) -> None:
    """A role that owns a table, or inherits the privileges of a role that does, could disable its triggers."""
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND pg_has_role(%s, c.relowner, 'USAGE') "
        "ORDER BY c.relname LIMIT 5",
        [schema, role],
    )
    owned = [name for (name,) in cursor.fetchall()]
    if owned:
        raise RoleError(
            f"The application's role {role} owns (or inherits the owner of) {', '.join(owned)}: it could switch "
            "the audit log's triggers off. Give the tables to the owner (ALTER TABLE … OWNER TO …) or "
            "the application a role of its own."
        )


def application_role_from_settings() -> tuple[str, str]:
    """The user and password of ``DATABASE_URL``: the application's role."""
    parsed = dj_database_url.parse(settings.DATABASE_URL)
    return str(parsed.get("USER") or ""), str(parsed.get("PASSWORD") or "")
