from __future__ import annotations

from django.conf import settings
from django.db import models


class Identity(models.Model):
    """The claims the test IdP asserts about one of its users, set by the tests."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identity")
    claims = models.JSONField(default=dict)

    def __str__(self) -> str:
        return str(self.user)
