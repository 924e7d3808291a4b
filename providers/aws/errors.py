"""Translate botocore's errors into the portal's typed driver errors."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from providers import errors

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "PriorRequestNotComplete",
    }
)
PERMISSION_CODES = frozenset({"UnauthorizedOperation", "AuthFailure", "Forbidden", "403"})
INVALID_CODES = frozenset({"ValidationError", "ValidationException", "MalformedPolicyDocument", "400"})
ALREADY_EXISTS_MARKERS = ("AlreadyExists", "AlreadyOwnedByYou", "Duplicate", "ResourceInUseException")
CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)


def error_code(error: ClientError) -> str:
    """The AWS error code of a ``ClientError`` (``"404"`` style for bodiless S3 answers)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_already_exists(error: ClientError) -> bool:
    """Whether the error says the resource is already there, which a look-before-create counts as success."""
    return any(marker in error_code(error) for marker in ALREADY_EXISTS_MARKERS)


def translate(error: Exception, resource: str = "") -> errors.ProviderError:
    """The typed error for a botocore exception (``ClientError`` codes, HTTP status, connection faults)."""
    if isinstance(error, CONNECTION_ERRORS):
        return errors.Unavailable(str(error), resource=resource)
    if isinstance(error, ParamValidationError):
        return errors.InvalidRequest(str(error), resource=resource)
    if not isinstance(error, ClientError):
        if isinstance(error, BotoCoreError):
            return errors.Unavailable(str(error), resource=resource)
        return errors.ProviderError(str(error), resource=resource)
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message") or error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in THROTTLING_CODES or status == 429:
        return errors.Throttled(message, resource=resource, retry_after=_retry_after(error))
    if "NotFound" in code or code.startswith("NoSuch") or code in {"404", "InvalidKeyId"} or code.endswith(".NotFound"):
        return errors.NotFound(message, resource=resource)
    if code.startswith("AccessDenied") or code in PERMISSION_CODES:
        return errors.PermissionDenied(message, resource=resource)
    if "LimitExceeded" in code or "Quota" in code or code.startswith("Insufficient"):
        return errors.QuotaExceeded(message, resource=resource)
    if is_already_exists(error) or "InvalidState" in code or code in {"DependencyViolation", "OperationAborted"}:
        return errors.Conflict(message, resource=resource)
    if code.startswith("InvalidParameter") or code.startswith("Invalid") or code in INVALID_CODES:
        return errors.InvalidRequest(message, resource=resource)
    if status >= 500 or code in {
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }:
        return errors.Unavailable(message, resource=resource)
    return errors.ProviderError(message, resource=resource)


def _retry_after(error: ClientError) -> float | None:
    """The ``Retry-After`` seconds the service sent with a throttling answer, if any."""
    headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    try:
        return float(headers["retry-after"])
    except (KeyError, TypeError, ValueError):
        return None
