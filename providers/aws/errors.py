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
# "The bucket namespace is shared by all users of the system": S3 answers BucketAlreadyExists for a
# name another account holds (only BucketAlreadyOwnedByYou means the bucket is ours).
TAKEN_BUCKET = "BucketAlreadyExists"
# The resource is busy with another operation: RDS "the DB instance isn't in a valid state" (modifying,
# backing up, rebooting), ElastiCache's replication group and cluster equivalents. Waiting helps.
BUSY_CODES = frozenset(
    {
        "InvalidDBInstanceState",
        "InvalidDBClusterStateFault",
        "InvalidReplicationGroupState",
        "InvalidCacheClusterState",
        # S3: "A conflicting conditional operation is currently in progress against this resource. Try again."
        "OperationAborted",
    }
)
# Codes whose meaning depends on the service that answered.
SERVICE_CODES: dict[tuple[str, str], type[errors.ProviderError]] = {
    # EKS: "The request is invalid given the state of the cluster. Check the state of the cluster and
    # the associated operations." An update, or a node group change, is still running.
    ("eks", "InvalidRequestException"): errors.Busy,
    # EKS: "The specified resource is in use", e.g. a cluster whose node groups are still being deleted.
    # (Its "already exists" form is told apart by is_already_exists.)
    ("eks", "ResourceInUseException"): errors.Busy,
    # Cost Explorer: "You made too many calls in a short period of time. Try again later." Its throttle,
    # not a quota (Cost Explorer names real limits ServiceQuotaExceededException).
    ("ce", "LimitExceededException"): errors.Throttled,
}
# IAM is eventually consistent: EKS may refuse a role made a moment ago ("Role with arn: ... could not be assumed
# because it does not exist or the trusted entity is not correct") and take it seconds later. Waiting helps.
ROLE_NOT_YET_ASSUMABLE = "could not be assumed"
CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)


def error_code(error: ClientError) -> str:
    """The AWS error code of a ``ClientError`` (``"404"`` style for bodiless S3 answers)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_already_exists(error: ClientError) -> bool:
    """Whether the error says the resource is already there and ours, which a look-before-create counts as success.

    EKS answers ``ResourceInUseException`` both for a name already taken and
    for a resource busy with another operation; only the first says "already
    exists".
    """
    code = error_code(error)
    if code == TAKEN_BUCKET:
        return False
    if code == "ResourceInUseException":
        return "already exists" in str(error.response.get("Error", {}).get("Message", "")).lower()
    return any(marker in code for marker in ALREADY_EXISTS_MARKERS)


def translate(error: Exception, resource: str = "", service: str = "") -> errors.ProviderError:
    """The typed error for a botocore exception (``ClientError`` codes, HTTP status, connection faults).

    ``service`` is the botocore service name (``"eks"``, ``"ce"``): some codes
    mean different things in different services.
    """
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
    by_service = SERVICE_CODES.get((service, code))
    if code in THROTTLING_CODES or status == 429 or by_service is errors.Throttled:
        return errors.Throttled(message, resource=resource, retry_after=_retry_after(error))
    if code == TAKEN_BUCKET:
        name = f'The bucket name "{resource}"' if resource else "This bucket name"
        taken = f"{name} is taken by another AWS account (S3 bucket names are global); choose another name."
        return errors.NameTaken(taken, resource=resource)
    if service == "eks" and code == "InvalidParameterException" and ROLE_NOT_YET_ASSUMABLE in message:
        return errors.Busy(message, resource=resource, retry_after=10)
    if code in BUSY_CODES or (by_service is errors.Busy and not is_already_exists(error)):
        return errors.Busy(message, resource=resource, retry_after=_retry_after(error))
    if "NotFound" in code or code.startswith("NoSuch") or code in {"404", "InvalidKeyId"} or code.endswith(".NotFound"):
        return errors.NotFound(message, resource=resource)
    if code.startswith("AccessDenied") or code in PERMISSION_CODES:
        return errors.PermissionDenied(message, resource=resource)
    if "LimitExceeded" in code or "Quota" in code or code.startswith("Insufficient"):
        return errors.QuotaExceeded(message, resource=resource)
    if is_already_exists(error) or "InvalidState" in code or code == "DependencyViolation":
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
