"""Request types for views, so type checkers know what middleware adds, and the signed-in user of a view."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest as DjangoHttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from access.models import User


class HttpRequest(DjangoHttpRequest):
    htmx: HtmxDetails


def signed_in(request: DjangoHttpRequest) -> User:
    """The request's user, typed: for views behind ``login_required``, which lets only users through."""
    from access.models import User

    user = request.user
    assert isinstance(user, User)  # noqa: S101 (login_required guarantees it)
    return user
