"""Translate azure-core's exceptions into the portal's typed driver errors.

Management-plane answers carry an ARM error body (``{"error": {"code": …,
"message": …}}``); the blob data plane puts its code in ``x-ms-error-code``.
Both are read, and the HTTP status decides where the code says nothing more
specific. Throttling hints come from ``Retry-After`` (seconds or an HTTP
date), ``retry-after-ms`` / ``x-ms-retry-after-ms``, and the
``x-ms-ratelimit-…-retry-after`` headers Cost Management sends.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from providers import errors

QUOTA_CODES = frozenset(
    {
        "QuotaExceeded",
        "ResourceQuotaExceeded",
        "SubscriptionQuotaExceeded",
        "InsufficientCoreQuota",
        "ErrCode_InsufficientVCPUQuota",
        "PublicIPCountLimitReached",
        "StorageAccountCountLimitExceeded",
    }
)
THROTTLING_CODES = frozenset({"TooManyRequests", "Throttled", "ThrottlingException", "RateLimitExceeded"})
# Another operation on the resource (or one it depends on) is still running; ARM serialises writes, so the
# same request succeeds once it has finished.
BUSY_CODES = frozenset({"AnotherOperationInProgress"})
# OperationNotAllowed is also AKS's answer while another operation runs ("Operation is not allowed: Another
# operation (Updating) is in progress, please wait for it to finish before starting a new operation", see
# https://aka.ms/aks-pending-operation), and 409 Conflict is Redis's ("is busy processing a previous update
# request"). Those forms are told apart from a real refusal by these words in the message.
BUSY_MESSAGES = ("another operation", "in progress", "busy processing")
# A globally unique name (a storage account's) that another subscription holds.
TAKEN_CODES = frozenset({"StorageAccountAlreadyTaken"})
# "Already there": a look-before-create that lost a race counts these as success.
ALREADY_EXISTS_CODES = frozenset({"ResourceExists", "AlreadyExists", "ContainerAlreadyExists", "BlobAlreadyExists"})


def error_code(error: HttpResponseError) -> str:
    """The service's error code: the ARM body's ``error.code``, else the ``x-ms-error-code`` header."""
    code = getattr(error, "error_code", None)  # set by the storage SDKs
    if code:
        return str(code)
    odata = getattr(error, "error", None)
    if odata is not None and getattr(odata, "code", None):
        return str(odata.code)
    response = error.response
    if response is None:
        return ""
    header = getattr(response, "headers", {}).get("x-ms-error-code")
    if header:
        return str(header)
    try:
        body = json.loads(response.text() or "{}")
    except (ValueError, TypeError):
        return ""
    inner = body.get("error") if isinstance(body, dict) else None
    return str(inner.get("code", "")) if isinstance(inner, dict) else ""


def _message(error: AzureError) -> str:
    """The service's message when it gave one, else the exception's own text."""
    odata = getattr(error, "error", None)
    if odata is not None and getattr(odata, "message", None):
        return str(odata.message)
    return str(getattr(error, "message", None) or error)


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the service asked us to wait, from whichever hint it sent (the longest, if several)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    hints: list[float] = []
    for key in ("retry-after-ms", "x-ms-retry-after-ms"):
        if key in lowered:
            with contextlib.suppress(ValueError):
                hints.append(float(lowered[key]) / 1000)
    candidates = [lowered[key] for key in lowered if key == "retry-after"]
    candidates += [value for key, value in lowered.items() if key.startswith("x-ms-ratelimit") and "retry-after" in key]
    for value in candidates:
        try:
            hints.append(float(value))
            continue
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        hints.append(max((when - (now or datetime.now(tz=UTC))).total_seconds(), 0.0))
    return max(hints) if hints else None


def is_already_exists(error: Exception) -> bool:
    """Whether the error says the resource is already there."""
    return isinstance(error, HttpResponseError) and (
        error.status_code == 409 and error_code(error) in ALREADY_EXISTS_CODES
    )


def translate(error: Exception, resource: str = "") -> errors.ProviderError:
    """The typed error for an azure-core exception (status, ARM or storage error code, connection faults)."""
    if isinstance(error, errors.ProviderError):
        return error
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return errors.Unavailable(str(error), resource=resource)
    if isinstance(error, ClientAuthenticationError) and not error.status_code:
        # A credential that could not get a token (bad secret, no identity): no HTTP answer to read.
        return errors.PermissionDenied(_message(error), resource=resource)
    if isinstance(error, HttpResponseError):
        return _from_response(error, resource)
    if isinstance(error, AzureError):
        return errors.Unavailable(str(error), resource=resource)
    return errors.ProviderError(str(error), resource=resource)


def _from_response(error: HttpResponseError, resource: str) -> errors.ProviderError:
    status = int(error.status_code or 0)
    code = error_code(error)
    message = f"{code}: {_message(error)}" if code else _message(error)
    headers = getattr(error.response, "headers", None) or {}
    if status == 429 or code in THROTTLING_CODES:
        return errors.Throttled(message, resource=resource, retry_after=retry_after(headers))
    if code in QUOTA_CODES or "Quota" in code or (code == "OperationNotAllowed" and "quota" in message.lower()):
        return errors.QuotaExceeded(message, resource=resource)
    if code in BUSY_CODES or (
        code in ("OperationNotAllowed", "Conflict") and any(words in message.lower() for words in BUSY_MESSAGES)
    ):
        return errors.Busy(message, resource=resource, retry_after=retry_after(headers))
    if code in TAKEN_CODES:
        return errors.NameTaken(message, resource=resource)
    if status == 404:
        return errors.NotFound(message, resource=resource)
    if status in (401, 403):
        return errors.PermissionDenied(message, resource=resource)
    if status in (409, 412):
        return errors.Conflict(message, resource=resource)
    if status >= 500 or status == 408:
        return errors.Unavailable(message, resource=resource, retry_after=retry_after(headers))
    if 400 <= status < 500:
        return errors.InvalidRequest(message, resource=resource)
    return errors.ProviderError(message, resource=resource)
