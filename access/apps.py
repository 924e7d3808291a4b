from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        from access import receivers

        post_migrate.connect(_ensure_builtin_roles, sender=self)
        receivers.connect()
        # Signal receivers: sign-out revokes refresh tokens; sign-in starts the session clocks.
        from access import authentication, middleware  # noqa: F401


def _ensure_builtin_roles(**kwargs: Any) -> None:
    """Keep the built-in roles in step with the code after every migrate (and test-database flush)."""
    from access.services import builtin_roles_ensure

    builtin_roles_ensure()
