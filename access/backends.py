"""Django's permission checks (the admin's) answered by the portal's policy."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth.backends import BaseBackend

from access import policy
from access.models import User

DJANGO_ACTIONS = {"view": policy.VIEW, "add": policy.ADD, "change": policy.CHANGE, "delete": policy.DELETE}


class PolicyBackend(BaseBackend):
    """Authenticates nobody; answers ``user.has_perm("app.verb_model", obj)`` through :func:`access.policy.can`.

    So the Django admin shows and allows exactly what the policy allows, and
    nobody needs Django's own permission tables.
    """

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        if not isinstance(user_obj, User):
            return False
        app_label, _, codename = perm.partition(".")
        verb, _, model_name = codename.partition("_")
        action = DJANGO_ACTIONS.get(verb)
        if action is None:
            return False
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            return False
        return policy.can(user_obj, action, obj if obj is not None else model)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        if not isinstance(user_obj, User):
            return False
        return any(policy.can(user_obj, policy.VIEW, model) for model in apps.get_app_config(app_label).get_models())
