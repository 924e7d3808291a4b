from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        from access import receivers

        post_migrate.connect(_ensure_builtin_roles, sender=self)
        post_migrate.connect(_provision_application_role, sender=self)
        receivers.connect()
        # Signal receivers: sign-out revokes refresh tokens; sign-in starts the session clocks.
        from access import authentication, middleware  # noqa: F401


def _ensure_builtin_roles(**kwargs: Any) -> None:
    """Keep the built-in roles in step with the code after every migrate (and test-database flush)."""
    from access.services import builtin_roles_ensure

    builtin_roles_ensure()


def _provision_application_role(*, using: str, verbosity: int = 1, stdout: Any = None, **kwargs: Any) -> None:
    """After a migrate as the owner (PORTAL_DATABASE_OWNER_URL), give DATABASE_URL's role only what it needs.

    The audit log is append-only for it: SELECT and INSERT, nothing else. Without an owner URL the
    application and the migrations share one role, and there is nothing to grant.
    """
    from django.conf import settings

    if not settings.DATABASE_OWNER_URL or using != "default":
        return
    from access.models import AuditEvent
    from portal.database_roles import application_role_from_settings, application_role_provision

    role, password = application_role_from_settings()
    done = application_role_provision(
        role=role, password=password, append_only=[AuditEvent._meta.db_table], using=using
    )
    if verbosity and stdout is not None:
        stdout.write(f"  {done}\n")
