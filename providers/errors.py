"""Errors every driver raises, whatever the backend, so callers can act on them.

A driver translates its SDK's exceptions (botocore ``ClientError`` codes,
azure-core ``HttpResponseError`` status codes, Kubernetes ``ApiException``
statuses) into these. ``retryable`` tells a workflow whether trying again
later may help; ``retry_after`` is the backend's hint, in seconds, when it
gave one.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Something the backend refused or could not do."""

    retryable = False

    def __init__(self, message: str, *, resource: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.retry_after = retry_after


class NotFound(ProviderError):
    """The resource does not exist (or the caller may not know it does)."""


class Conflict(ProviderError):
    """The resource exists in a state that forbids the request (e.g. being deleted, or owned by someone else)."""


class Busy(Conflict):
    """The resource is busy with another operation (being modified, backed up, upgraded); ask again once it is done.

    Retryable, but by waiting rather than at once: a resource stays busy for
    minutes, so drivers do not retry it themselves and a workflow step waits
    for it as it waits for a resource still being created.
    """

    retryable = True


class NameTaken(Conflict):
    """A name that is unique across the whole cloud (an S3 bucket, an Azure storage account) belongs to
    another account; only another name helps, so it is not retried."""


class ProvisioningFailed(ProviderError):
    """The cloud accepted a create or update and then could not finish it (Azure's provisioningState ``Failed``
    or ``Canceled``); the message names the resource and gives the cloud's reason. Not retried: the failed
    resource stays until it is removed."""


class Throttled(ProviderError):
    """The backend asked us to slow down; retry after ``retry_after`` seconds or with backoff."""

    retryable = True


class Unavailable(ProviderError):
    """A transient fault (timeout, 5xx, connection reset): retrying may succeed."""

    retryable = True


class PermissionDenied(ProviderError):
    """The credentials are valid but not allowed to do this."""


class QuotaExceeded(ProviderError):
    """An account, subscription or cluster limit would be exceeded."""


class InvalidRequest(ProviderError):
    """The request itself is wrong (bad name, unsupported combination); retrying will not help."""


class TimedOut(ProviderError):
    """A wait for a resource to reach a state gave up; the message says the last state seen.

    Retryable: the backend may still get there, so a workflow step can wait again later.
    """

    retryable = True
