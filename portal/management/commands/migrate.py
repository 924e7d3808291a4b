"""Django's ``migrate``, connected as the owner of the schema when ``PORTAL_DATABASE_OWNER_URL`` is set.

The web and worker processes connect as ``DATABASE_URL``'s role, which may
only use the tables (portal.database_roles); only migrations change them,
so only this command needs the owner's credentials.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from portal.database_roles import as_owner


class Command(migrate.Command):
    help = f"{migrate.Command.help} Connects as PORTAL_DATABASE_OWNER_URL when it is set."

    def execute(self, *args: Any, **options: Any) -> str | None:
        # execute, not handle: the system checks that run before handle connect too.
        with as_owner(options["database"]):
            return super().execute(*args, **options)
