"""How the OpenAPI schema (and Swagger UI's "Authorize" button) describes the portal's authenticators.

drf-spectacular registers these when the module is imported; :mod:`access.api.views` imports it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class JwtScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]  # drf-spectacular is untyped here
    target_class = "access.authentication.JwtAuthentication"
    name = "jwt"


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "access.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ppt_<prefix>_<secret>",
            "description": "A named API token (see /access/tokens/): one role on one team, acting for its owner.",
        }
