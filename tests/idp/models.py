from __future__ import annotations

from django.conf import settings
from django.db import models


class Identity(models.Model):
    """The claims the test IdP asserts about one of its users, set by the tests."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identity")
    claims = models.JSONField(default=dict)

    def __str__(self) -> str:
        return str(self.user)


class Behaviour(models.Model):
    """How the test IdP answers from now on: by the protocol, or the way a broken or hostile one would.

    One row (``pk=1``), set by the tests through ``POST /control/behaviour``; no
    row means every answer follows the protocol. Kept in the database so every
    thread and worker of the IdP sees the same.
    """

    class IdToken(models.TextChoices):
        SIGNED = "signed", "signed with the key its JWKS publishes"
        UNSIGNED = "unsigned", "alg none, no signature"
        STRANGER_KEY = "stranger-key", "signed with a key not in its JWKS, under the kid of its own key"
        STRANGER_KID = "stranger-kid", "signed with a key not in its JWKS, under that key's own kid"

    class IssParameter(models.TextChoices):
        ISSUER = "issuer", "its issuer (RFC 9207)"
        ABSENT = "absent", "none"
        OTHER = "other", "another issuer's"

    id_token = models.CharField(max_length=20, choices=IdToken.choices, default=IdToken.SIGNED)
    iss_parameter = models.CharField(max_length=20, choices=IssParameter.choices, default=IssParameter.ISSUER)
    advertises_iss_parameter = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"id_token={self.id_token}, iss={self.iss_parameter}"

    @classmethod
    def current(cls) -> Behaviour:
        return cls.objects.filter(pk=1).first() or cls()
