"""The Azure permissions pre-flight: may the portal's principal do what the shipped role definition lists?

ARM answers "what may the caller do here" with ``GET {scope}/providers/
Microsoft.Authorization/permissions`` (api-version 2022-04-01; Permissions -
List For Resource Group, and the same path on a subscription): one entry per
role assignment reaching the scope, each with ``actions``, ``notActions``,
``dataActions`` and ``notDataActions``, paged by ``nextLink``. The scope is
the driver's resource group when it exists (assignments on the group and
inherited from the subscription), else the subscription (the group is made
on the first build, which needs the subscription-level grant anyway). Every
action and data action of ``providers/policies/azure-portal-role.json`` is
compared with them, wildcards and not-actions included.

Nothing is changed: the check reads the resource group and the permissions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError
from azure.core.rest import HttpRequest
from azure.mgmt.resource.resources import ResourceManagementClient

from providers import errors
from providers.access import (
    AZURE_ROLE_FILE,
    AccessCheck,
    MissingGrant,
    azure_actions,
    azure_data_actions,
    azure_grant,
    azure_permits,
)
from providers.azure.errors import translate

if TYPE_CHECKING:
    from providers.azure.cloud import AzureCloudDriver

ARM = "https://management.azure.com"
PERMISSIONS_API_VERSION = "2022-04-01"


def check_access(driver: AzureCloudDriver) -> AccessCheck:
    """The pre-flight of ``driver``'s principal on its resource group (or subscription); see the module docstring.

    Raises :class:`~providers.errors.ProviderError` only when Azure could not
    be asked (throttled, unavailable); a refusal is an answer, not an error.
    """
    subscription = f"/subscriptions/{driver.subscription_id}"
    groups = driver._client(ResourceManagementClient).resource_groups
    try:
        group = driver._find(lambda: groups.get(driver.resource_group), driver.resource_group)
    except errors.PermissionDenied as error:
        return _refused(driver, error, f"read the resource group {driver.resource_group}")
    scope = f"{subscription}/resourceGroups/{driver.resource_group}" if group is not None else subscription
    try:
        permissions = _permissions(driver, scope)
    except errors.PermissionDenied as error:
        return _refused(driver, error, f"read its permissions on {scope}")
    missing = [
        MissingGrant(action, azure_grant(action))
        for action in azure_actions()
        if not azure_permits(permissions, action)
    ] + [
        MissingGrant(action, azure_grant(action, data=True))
        for action in azure_data_actions()
        if not azure_permits(permissions, action, data=True)
    ]
    checked = len(azure_actions()) + len(azure_data_actions())
    where = f"the resource group {driver.resource_group}" if group is not None else "the subscription"
    return AccessCheck(
        ok=not missing,
        method="permissions",
        identity=scope,
        checked=checked,
        missing=tuple(missing),
        summary=(
            f"The principal's permissions on {where}: all {checked} actions the portal uses are granted."
            if not missing
            else f"The principal's permissions on {where}: {len(missing)} of {checked} actions the portal uses are "
            "not granted."
        ),
    )


def _permissions(driver: AzureCloudDriver, scope: str) -> list[dict[str, Any]]:
    """Every entry of the permissions listing on ``scope``, following ``nextLink``."""
    client = driver._client(ResourceManagementClient)

    def listing() -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        url: str | None = f"{ARM}{scope}/providers/Microsoft.Authorization/permissions"
        params: dict[str, str] | None = {"api-version": PERMISSIONS_API_VERSION}
        while url:
            try:
                response = client.send_request(HttpRequest("GET", url, params=params))
                response.raise_for_status()
            except AzureError as error:
                raise translate(error, scope) from error
            page = response.json()
            entries.extend(page.get("value") or [])
            url, params = page.get("nextLink"), None  # a nextLink carries its own query
        return entries

    result = driver._call(listing, scope)
    return result or []


def _refused(driver: AzureCloudDriver, error: errors.ProviderError, what: str) -> AccessCheck:
    return AccessCheck(
        ok=False,
        method="permissions",
        summary=(
            f"The portal's principal may not {what} in subscription {driver.subscription_id}: Azure said "
            f"{error.message!r}. Assign it the role in providers/policies/{AZURE_ROLE_FILE} on the subscription "
            "(or at least Reader), then check again."
        ),
        missing=(MissingGrant("Microsoft.Authorization/*/read", azure_grant("Microsoft.Authorization/*/read")),),
    )
