from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.models import Application

from tests.idp.models import Identity


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
