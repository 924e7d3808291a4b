from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider import views as oauth2_views
from oauth2_provider.models import Application

from tests.idp.models import Behaviour, Identity

# What an IdP in a mix-up attack would name itself in its authorisation response.
OTHER_ISSUER = "https://other-issuer.example"


def _allowed(request: HttpRequest) -> bool:
    return hmac.compare_digest(request.headers.get("X-Control-Token", ""), settings.CONTROL_TOKEN)


@csrf_exempt
@require_POST
def identities(request: HttpRequest) -> HttpResponse:
    """Create or update an IdP user and the claims asserted about them."""
    if not _allowed(request):
        return HttpResponse(status=403)
    body = json.loads(request.body)
    user, _ = User.objects.get_or_create(username=body["username"])
    user.set_password(body["password"])
    user.save()
    Identity.objects.update_or_create(user=user, defaults={"claims": body["claims"]})
    return JsonResponse({"username": user.username})


@csrf_exempt
@require_POST
def clients(request: HttpRequest) -> HttpResponse:
    """Register (or re-register) the portal as a confidential client."""
    if not _allowed(request):
        return HttpResponse(status=403)
    body = json.loads(request.body)
    Application.objects.filter(client_id=body["client_id"]).delete()
    Application.objects.create(
        name="portal",
        client_id=body["client_id"],
        client_secret=body["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(body["redirect_uris"]),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    return JsonResponse({"client_id": body["client_id"]})


@csrf_exempt
@require_POST
def behaviour(request: HttpRequest) -> HttpResponse:
    """Set how the IdP answers from now on; fields left out follow the protocol."""
    if not _allowed(request):
        return HttpResponse(status=403)
    body = json.loads(request.body)
    Behaviour.objects.filter(pk=1).delete()
    chosen = Behaviour(pk=1, **body)
    chosen.full_clean()
    chosen.save()
    return JsonResponse({"behaviour": str(chosen)})


class AuthorizationView(oauth2_views.AuthorizationView):
    """django-oauth-toolkit's authorisation endpoint, whose RFC 9207 ``iss`` parameter the tests may change."""

    def redirect(self, redirect_to: str, application: Any) -> HttpResponse:
        how = Behaviour.current().iss_parameter
        if how != Behaviour.IssParameter.ISSUER:
            parts = urlsplit(redirect_to)
            query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "iss"]
            if how == Behaviour.IssParameter.OTHER:
                query.append(("iss", OTHER_ISSUER))
            redirect_to = urlunsplit(parts._replace(query=urlencode(query)))
        response: HttpResponse = super().redirect(redirect_to, application)
        return response


class DiscoveryView(oauth2_views.ConnectDiscoveryInfoView):
    """django-oauth-toolkit's discovery document, which may stop advertising the ``iss`` parameter."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().get(request, *args, **kwargs)
        if not Behaviour.current().advertises_iss_parameter:
            document = json.loads(response.content)
            document.pop("authorization_response_iss_parameter_supported", None)
            response.content = json.dumps(document).encode()
        return response
