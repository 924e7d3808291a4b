"""One shape for every API error: ``{"error": {status, code, message, fields?}, "request_id"}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django_guid import get_guid
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def error_body(status: int, code: str, message: str, fields: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error, "request_id": get_guid()}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # A service's refusal reaches the caller as the page shows it: field by field, with its message.
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, DjangoPermissionDenied) and str(exc):
        exc = exceptions.PermissionDenied(str(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(response.status_code, "invalid", "The request is not valid.", fields)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = error_body(response.status_code, codes if isinstance(codes, str) else "error", str(exc.detail))
    else:  # Django's Http404 and PermissionDenied, which DRF converts itself
        code = "not_found" if response.status_code == 404 else "permission_denied"
        message = "Not found." if response.status_code == 404 else "You do not have permission to perform this action."
        response.data = error_body(response.status_code, code, message)
    return response
