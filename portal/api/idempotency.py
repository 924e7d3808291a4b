"""``Idempotency-Key`` for the API's actions: a retried action answers what its first attempt answered.

A client that lost the answer to a POST (a timeout, a dropped connection) sends it again with the same key. The
first answer below 500 (status and body) of a caller's key on a path is kept for :data:`KEEP` seconds; the
same request again gets it back, with ``Idempotency-Replayed: true``, and nothing is done twice. While the first
is still being acted on, the same key answers 409 ``in_progress``; a key reused with another body answers 422
``key_reused`` (as the IETF's Idempotency-Key draft and Stripe do). An answer of 500 or more, or one the action
raised (a refusal, turned into its structured error afterwards), is not kept: trying again acts again. Without
the header an action runs as ever.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.cache import cache
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.errors import error_body

KEEP = 24 * 3600
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Sent again with the same key, the action answers what it answered the first time, and does "
    "nothing twice (kept for a day).",
)

View = TypeVar("View")
Action = Callable[..., Response]


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def idempotent(action: Action) -> Action:
    """Decorate a DRF view method (``(self, request, *args, **kwargs) -> Response``) that acts on a POST."""
    return _idempotent(action, withheld=())


def idempotent_withholding(*withheld: str) -> Callable[[Action], Action]:
    """:func:`idempotent` for an answer carrying a secret shown once: the kept answer has ``withheld`` fields set
    to null, so a replay acts once but does not show the secret again (and no secret waits in the cache)."""
    return lambda action: _idempotent(action, withheld=withheld)


def _idempotent(action: Action, *, withheld: tuple[str, ...]) -> Action:
    @wraps(action)
    def run(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return action(view, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            raise exceptions.ValidationError({HEADER: [f"Use a key of at most {MAX_KEY_LENGTH} characters."]})
        slot = f"api:idempotency:{_digest(request.user.pk, request.method, request.path, key)}"
        fingerprint = _digest(request.data)
        if not cache.add(slot, {"fingerprint": fingerprint}, KEEP):
            kept = cache.get(slot) or {}
            if kept.get("fingerprint") != fingerprint:
                return Response(
                    error_body(422, "key_reused", "This Idempotency-Key was used for another request."), status=422
                )
            if "status" not in kept:
                return Response(
                    error_body(409, "in_progress", "The first request with this Idempotency-Key is still running."),
                    status=409,
                )
            return Response(kept["data"], status=kept["status"], headers={"Idempotency-Replayed": "true"})
        try:
            response = action(view, request, *args, **kwargs)
        except BaseException:
            cache.delete(slot)
            raise
        if response.status_code >= 500:
            cache.delete(slot)
        else:
            data = response.data
            if withheld and isinstance(data, dict):
                data = {**data, **dict.fromkeys(withheld)}
            cache.set(slot, {"fingerprint": fingerprint, "status": response.status_code, "data": data}, KEEP)
        return response

    return run
