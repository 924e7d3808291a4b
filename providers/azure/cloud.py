"""The Azure cloud driver: VNet, AKS, PostgreSQL flexible server, Azure Cache for Redis, Blob storage,
Key Vault and Cost Management through azure-identity and the azure-mgmt packages.

Everything lives in one resource group per driver (``platform-portal-<location>``
by default), created the first time something is. Every ensure looks before
it creates (an ARM ``GET`` by the deterministic name), and everything created
carries the spec's tags plus ``portal:name``.

Long-running creates are started, not waited for. AKS clusters and agent
pools, PostgreSQL servers (a geo-replica takes hours) and Redis caches: the
ensure sends the ``PUT`` without azure-core's poller and returns what a ``GET``
then shows (status ``creating``), as the AWS driver returns a cluster still
``CREATING``; the workflow step answers ``NotYet`` and calls the ensure again
later, which finds the resource, reads its ``provisioningState`` and never
sends the ``PUT`` again while it is in progress. A ``Failed`` or ``Canceled``
state is :class:`~providers.errors.ProvisioningFailed`, with Azure's reason.
Network, storage and vault writes take seconds: the ensure waits for them, by
reading the resource with ``GET`` until its state is terminal, for at most
:data:`SHORT_OPERATION_SECONDS` (a failed read is read again, never re-sent
as a ``PUT``). Deletes of clusters, pools, servers and caches are started the
same way (the caller describes the resource until it is NotFound); short
deletes (network, storage, private endpoints) still wait through azure-core's
pollers.

The portal's own identity (``principal_id``: the management token's ``oid``
unless configured) is given what its later calls need: AKS RBAC Cluster Admin
on each cluster, Key Vault Crypto Officer on the vault, and the Entra
administrator of each PostgreSQL server.

azure-core's own retries are switched off on every client (``retry_total=0``):
:mod:`providers.retry` is the one bounded retry layer, as for AWS and
Kubernetes. Bodies go to the SDKs as JSON in the REST API's shape and answers
are read back the same way (``_json``), so the code reads like the API
reference.

Where Azure differs from the interface's AWS-shaped words:

- **zones**: Azure subnets are regional. A subnet's zone is kept in its name,
  ``<public|private>-<index>-zone-<zone>``, and read back from it. "Public"
  subnets have no NAT gateway; private ones are attached to the network's one
  NAT gateway (``<network>-nat`` with the public IP ``<network>-nat-ip``).
- **node pools**: AKS cannot create a cluster without a system pool, so the
  spec's first on-demand ``general`` pool is created with the cluster (mode
  ``System``); the others are agent pools of their own (mode ``User``).
- **database**: ``latest_restorable_time`` is when the newest completed backup
  finished (Azure reports no later restore point, only the earliest one).
  Replica lag is the Azure Monitor metric ``physical_replication_delay_in_seconds``.
  The replica lives in the partner region's resource group. Password sign-in is
  off (Microsoft Entra only), so the portal never holds a database password.
  Public network access is off for servers and caches; they are reached
  through private endpoints in the spec's subnet.
- **buckets**: a storage account (name derived from the spec name, see
  :func:`storage_account_name`) holding one blob container (see
  :func:`container_name`); the spec name is the account's ``portal:name`` tag.
- **keys**: one vault per driver (subscription, resource group, location); the
  alias is the key's name.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import ipaddress
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import IO, Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.core.pipeline.transport import HttpTransport
from azure.core.polling import LROPoller
from azure.core.rest import HttpRequest
from azure.keyvault.keys import KeyClient
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient
from azure.mgmt.redis import RedisManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.storage.blob import BlobServiceClient

from providers import errors, names
from providers.access import AccessCheck
from providers.azure.credentials import credential_for
from providers.azure.errors import QUOTA_CODES, is_already_exists, translate
from providers.cloud import (
    BucketInfo,
    BucketSpec,
    CacheInfo,
    CacheSpec,
    CostLineItem,
    CostReport,
    DatabaseInfo,
    DatabaseSpec,
    KeyInfo,
    KeySpec,
    KubernetesClusterInfo,
    KubernetesClusterSpec,
    KubernetesVersionInfo,
    NetworkInfo,
    NetworkSpec,
    NodePoolInfo,
    NodePoolSpec,
    ObjectInfo,
    Placement,
    ReplicaInfo,
    SubnetInfo,
    newest_first,
)
from providers.retry import RetryPolicy, call_with_retries
from providers.wait import wait_until

T = TypeVar("T")
DEFAULT_RETRIES = RetryPolicy()
NAME_TAG = "portal:name"
POOL_KIND_LABEL = "portal/pool-kind"
GPU_TAINT = "nvidia.com/gpu=true:NoSchedule"
# The Entra ID application every AKS cluster with managed Entra integration accepts tokens for.
AKS_SERVER_SCOPE = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"
ARM_SCOPE = "https://management.azure.com/.default"
POSTGRES_PORT = 5432
# Azure RBAC (Microsoft.Authorization/roleAssignments, "Role Assignments - Create"): the assignment's name "can be
# any valid GUID", so a GUID derived from scope, role and principal lets every run find the one an earlier run made.
ROLE_API_VERSION = "2022-04-01"
# Built-in roles ("Azure built-in roles", Containers and Security): AKS RBAC Cluster Admin "lets you manage all
# resources in the cluster" (namespaces, resource quotas and network policies included: the narrower AKS RBAC Admin
# may not create namespaces or change quotas); Key Vault Crypto Officer may "perform any action on the keys of a
# key vault", delete included, on a vault using the Azure RBAC permission model.
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
KEY_VAULT_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
ROLE_NAMES = {
    AKS_RBAC_CLUSTER_ADMIN: "Azure Kubernetes Service RBAC Cluster Admin",
    KEY_VAULT_CRYPTO_OFFICER: "Key Vault Crypto Officer",
}
# Azure Monitor's metrics API (Microsoft.Insights/metrics): the read replica's lag is the platform metric
# physical_replication_delay_in_seconds of the replica server ("Monitor metrics on Azure Database for PostgreSQL").
METRICS_API_VERSION = "2023-10-01"
REPLICA_LAG_METRIC = "physical_replication_delay_in_seconds"
# Read replicas are not supported on the Burstable tier (concepts-read-replicas, limitations): General Purpose
# or Memory Optimized only.
REPLICABLE_TIERS = frozenset({"GeneralPurpose", "MemoryOptimized"})
# Private Link ("Azure Private Endpoint private DNS zone values"): the target sub-resource (groupId) and the
# private DNS zone its name resolves in, per service. Private DNS zones are global resources.
PRIVATE_LINKS = {
    "postgresql": ("postgresqlServer", "privatelink.postgres.database.azure.com"),
    "redis": ("redisCache", "privatelink.redis.cache.windows.net"),
}
PRIVATE_DNS_API_VERSION = "2020-06-01"
COLD_TIER_RULE = "portal-cold-storage"
# Azure Cost Management groups a query by at most two columns.
MAX_COST_GROUPINGS = 2
COST_COLUMNS = ("Cost", "PreTaxCost", "CostUSD")
# Azure Resource Manager's rule for asynchronous writes (RPC, "Asynchronous API reference"): the PUT answers
# 201/200 with a non-terminal provisioningState (older APIs: 202 with Azure-AsyncOperation or Location), and
# "future GETs on the resource that was created should continue to return a 200 Status Code and
# provisioningState property that is *non-terminal* as long as the provisioning is in progress". The state "has
# only three terminal states: Succeeded, Failed and Canceled. If the resource returns no provisioningState, it
# is assumed to be Succeeded." So a GET tells whether a write is still running, and a second PUT meanwhile meets
# 409 AnotherOperationInProgress.
FAILED_STATES = frozenset({"failed", "canceled"})
# The longest a network, storage or vault write is waited for in one call (they take seconds on Azure).
SHORT_OPERATION_SECONDS = 600.0
SHORT_OPERATION_POLL_SECONDS = 5.0
# provisioningState / server state → the status words the other drivers report.
STATES = {
    "succeeded": "available",
    "ready": "available",
    "creating": "creating",
    "accepted": "creating",
    "provisioning": "creating",
    "updating": "updating",
    "scaling": "updating",
    "upgrading": "updating",
    "deleting": "deleting",
    "dropping": "deleting",
    "failed": "failed",
    "canceled": "failed",
    "stopped": "stopped",
    "disabled": "stopped",
}


def _no_wait(seconds: float) -> None:
    """A polling interval of 0 (tests): look again at once."""


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def storage_account_name(subscription_id: str, name: str) -> str:
    """The storage account behind bucket ``name``: 3 to 24 lowercase alphanumerics, the same on every run.

    Account names are global across Azure, so a digest of the subscription and
    the spec name follows the spec name's first letters and digits.
    """
    letters = re.sub(r"[^a-z0-9]", "", name.lower())[:14]
    return f"{letters}{_digest(subscription_id, name)[: 24 - len(letters)]}"


def container_name(name: str) -> str:
    """The blob container of bucket ``name``: its name as a valid container name (lowercase, single hyphens)."""
    cleaned = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", name.lower())).strip("-")
    return (cleaned or "objects")[:63].ljust(3, "0")


def key_vault_name(subscription_id: str, resource_group: str, location: str, installation_id: str = "") -> str:
    """The driver's vault: ``pp-<location>-<digest>``, at most 24 characters as Key Vault requires.

    Vault names are unique across Azure, so the digest covers the
    installation's id too: two installations sharing a subscription and the
    default resource group get two vaults. Without an installation id the
    name is the one earlier versions gave.
    """
    parts = (subscription_id, resource_group, location, *((installation_id,) if installation_id else ()))
    return f"pp-{location[:9]}-{_digest(*parts)[:10]}"


def role_assignment_name(scope: str, role_id: str, principal_id: str) -> str:
    """The GUID naming the assignment of ``role_id`` to ``principal_id`` on ``scope``: the same on every run."""
    return str(uuid.UUID(_digest(scope.lower(), role_id, principal_id)[:32]))


def _claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token (not verified: the token is our own, from Entra)."""
    payload = token.split(".")[1] if token.count(".") == 2 else ""
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _is_replica(server: dict[str, Any]) -> bool:
    properties = server.get("properties", {})
    return bool(properties.get("sourceServerResourceId")) or properties.get("replicationRole") in (
        "AsyncReplica",
        "GeoAsyncReplica",
    )


def _server_ready(server: dict[str, Any]) -> bool:
    """Whether a flexible server is up (``state`` Ready): a replica of it can only be made then."""
    return str(server.get("properties", {}).get("state", "")).lower() == "ready"


def _location(value: str | None) -> str:
    """A location as its programmatic name (some resource providers answer "West Europe" for "westeurope")."""
    return (value or "").replace(" ", "").lower()


def _status(state: str | None) -> str:
    return STATES.get((state or "").lower(), (state or "").lower())


def _json(value: Any) -> dict[str, Any]:
    """An SDK model as the REST API's JSON (camelCase keys, nested ``properties``)."""
    if value is None:
        return {}
    if hasattr(value, "as_dict") and hasattr(value, "_attr_to_rest_field"):  # TypeSpec-generated models
        result: dict[str, Any] = value.as_dict()
        return result
    if hasattr(value, "serialize"):  # msrest models (azure-mgmt-redis)
        serialized: dict[str, Any] = value.serialize(keep_readonly=True)
        return serialized
    return dict(value)


def _rest(body: dict[str, Any]) -> Any:
    """A request body in the REST API's JSON shape, as the SDK operations accept it.

    The SDKs serialise a JSON body as given; their overloads name the model
    class or a TypedDict, so the body is handed over untyped.
    """
    return body


def _parse_id(resource_id: str) -> dict[str, str]:
    """An ARM id's segments: ``resourceGroups`` → group, ``storageAccounts`` → name, and so on."""
    parts = resource_id.strip("/").split("/")
    return {parts[index].lower(): parts[index + 1] for index in range(0, len(parts) - 1, 2)}


def _subnet_name(public: bool, index: int, zone: str) -> str:
    return f"{'public' if public else 'private'}-{index}-zone-{zone}"


def _subnet_zone(name: str) -> str:
    return name.partition("-zone-")[2]


def _postgres_sku(instance_class: str) -> dict[str, str]:
    # The compute tier must match the SKU's family: Standard_B* are Burstable, Standard_D* General Purpose and
    # Standard_E* Memory Optimized ("Compute options in Azure Database for PostgreSQL").
    """``Standard_D2ds_v5`` → GeneralPurpose, ``Standard_B…`` → Burstable, ``Standard_E…`` → MemoryOptimized."""
    size = instance_class.removeprefix("Standard_")
    tier = {"B": "Burstable", "E": "MemoryOptimized"}.get(size[:1].upper(), "GeneralPurpose")
    return {"name": instance_class, "tier": tier}


def _redis_sku(node_type: str) -> dict[str, Any]:
    """``Premium_P1`` → Premium, family P, capacity 1 (``Standard_C1``, ``Basic_C0`` likewise)."""
    match = re.fullmatch(r"(Basic|Standard|Premium)_([CP])(\d+)", node_type)
    if match is None:
        raise errors.InvalidRequest(
            f"Azure Cache for Redis node types look like Standard_C1 or Premium_P1, not {node_type!r}",
            resource=node_type,
        )
    return {"name": match[1], "family": match[2], "capacity": int(match[3])}


def _redis_version(engine_version: str) -> str:
    """Azure Cache for Redis offers 4 and 6 ("latest"): anything from 6 on asks for the latest."""
    major = engine_version.split(".")[0]
    return major if major.isdigit() and int(major) < 6 else "latest"


class AzureCloudDriver:
    """A :class:`~providers.cloud.CloudDriver` for one subscription and location.

    ``transport`` replaces azure-core's HTTP transport on every client (tests
    plug a fake Azure in there); ``polling_interval`` overrides the seconds
    between polls of long-running operations (Azure's ``Retry-After`` otherwise).
    ``tenant_id`` is the directory the key vault and database sign-ins trust;
    when empty it is read from the management token's ``tid`` claim.
    ``principal_id`` is the Entra object id of the portal's own identity (the
    one the credential signs in as), given the roles its later calls need;
    when empty it is the management token's ``oid`` claim. ``principal_name``
    is the name that identity has as the database's Entra administrator.
    ``installation_id`` keeps this installation's vault name apart from
    another's in the same subscription.
    """

    def __init__(
        self,
        credential: TokenCredential,
        subscription_id: str,
        *,
        location: str,
        resource_group: str,
        transport: HttpTransport[Any, Any] | None = None,
        retry_policy: RetryPolicy = DEFAULT_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        polling_interval: float | None = None,
        tenant_id: str = "",
        clock: Callable[[], datetime] = _now,
        principal_id: str = "",
        principal_name: str = "platform-portal",
        installation_id: str = "",
    ) -> None:
        self.credential = credential
        self.subscription_id = subscription_id
        self.location = location
        self.resource_group = resource_group
        self.transport = transport
        self.retry_policy = retry_policy
        self.sleep = sleep
        self.polling_interval = polling_interval
        self.clock = clock
        self._tenant_id = tenant_id
        self._principal_id = principal_id
        self.principal_name = principal_name
        self.installation_id = installation_id
        self._clients: dict[type, Any] = {}
        self._resource_group_ready = False
        self._vault_name: str | None = None

    def __repr__(self) -> str:
        return f"AzureCloudDriver(subscription_id={self.subscription_id!r}, location={self.location!r})"

    # ------------------------------------------------------------ plumbing

    def _client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"retry_total": 0}
        if self.transport is not None:
            options["transport"] = self.transport
        if self.polling_interval is not None:
            options["polling_interval"] = self.polling_interval
        return options

    def _client(self, client_class: type[T]) -> T:
        if client_class not in self._clients:
            if client_class is CostManagementClient:
                self._clients[client_class] = CostManagementClient(self.credential, **self._client_options())
            else:
                self._clients[client_class] = client_class(  # type: ignore[call-arg]
                    self.credential, self.subscription_id, **self._client_options()
                )
        client: T = self._clients[client_class]
        return client

    @property
    def network(self) -> NetworkManagementClient:
        """The azure-mgmt-network client."""
        return self._client(NetworkManagementClient)

    @property
    def aks(self) -> ContainerServiceClient:
        """The azure-mgmt-containerservice client."""
        return self._client(ContainerServiceClient)

    @property
    def postgres(self) -> PostgreSQLManagementClient:
        """The azure-mgmt-postgresqlflexibleservers client."""
        return self._client(PostgreSQLManagementClient)

    @property
    def redis(self) -> RedisManagementClient:
        """The azure-mgmt-redis client."""
        return self._client(RedisManagementClient)

    @property
    def storage(self) -> StorageManagementClient:
        """The azure-mgmt-storage client."""
        return self._client(StorageManagementClient)

    @property
    def keyvault(self) -> KeyVaultManagementClient:
        """The azure-mgmt-keyvault client."""
        return self._client(KeyVaultManagementClient)

    def _call(self, operation: Callable[[], T], resource: str = "", *, exists_ok: bool = False) -> T | None:
        """Run one call (a whole long-running operation included) with retries, translating errors.

        ``exists_ok`` turns "already exists" (a create that lost a race) into None.
        """

        def attempt() -> T | None:
            try:
                return operation()
            except AzureError as error:
                if exists_ok and is_already_exists(error):
                    return None
                raise translate(error, resource) from error

        return call_with_retries(attempt, self.retry_policy, self.sleep)

    def _get(self, operation: Callable[[], Any], resource: str = "") -> dict[str, Any]:
        """A resource as JSON, or NotFound."""
        return _json(self._call(operation, resource))

    def _find(self, operation: Callable[[], Any], resource: str = "") -> dict[str, Any] | None:
        """A resource as JSON, or None when it does not exist."""
        try:
            return self._get(operation, resource)
        except errors.NotFound:
            return None

    def _list(self, operation: Callable[[], Any], resource: str = "") -> list[dict[str, Any]]:
        """Every item of a paged listing; a failed page lists again from the start."""
        items = self._call(lambda: [_json(item) for item in operation()], resource)
        return items or []

    def _start(self, begin: Callable[..., LROPoller[Any]], resource: str = "") -> None:
        """Send a long-running write (its PUT or PATCH) and return as soon as Azure has accepted it.

        ``polling=False`` keeps azure-core from polling: the caller reads the
        resource's ``provisioningState`` with a ``GET`` when it next looks. A
        retried write is only the request itself; a write that did start meets
        409 AnotherOperationInProgress, which is :class:`~providers.errors.Busy`.
        """
        self._call(lambda: begin(polling=False), resource)

    def _done(self, resource: dict[str, Any], what: str) -> bool:
        """Whether Azure has finished the resource's last write; ProvisioningFailed when it failed."""
        state = str(resource.get("properties", {}).get("provisioningState") or "Succeeded")
        if state.lower() in FAILED_STATES:
            raise self._provisioning_failed(resource, state, what)
        return state.lower() == "succeeded"

    def _provisioning_failed(self, resource: dict[str, Any], state: str, what: str) -> errors.ProviderError:
        """The error for a resource whose last write ended Failed or Canceled, with Azure's reason.

        AKS keeps the reason on the resource (``status.provisioningError``);
        other resource providers give it only in the operation's status and
        the activity log, which is read for it.
        """
        name = str(resource.get("name", ""))
        properties = resource.get("properties", {})
        detail = (properties.get("status") or {}).get("provisioningError") or properties.get("provisioningError")
        if not isinstance(detail, dict) or not detail.get("message"):
            detail = self._activity_log_error(str(resource.get("id", "")))
        reason = (
            f"Azure says: {detail.get('code') + ': ' if detail.get('code') else ''}{str(detail['message']).rstrip('.')}"
            if detail and detail.get("message")
            else "Azure gave no reason; the resource's activity log in the Azure portal may have one"
        )
        message = (
            f"Azure could not finish the {what} {name} (provisioning state {state}). {reason}. "
            f"Remove the {what} (undo the run) before trying again."
        )
        code = str((detail or {}).get("code", ""))
        if code in QUOTA_CODES or "Quota" in code:
            return errors.QuotaExceeded(message, resource=name)
        return errors.ProvisioningFailed(message, resource=name)

    def _activity_log_error(self, resource_id: str) -> dict[str, Any] | None:
        """The error of the resource's latest failed write in the subscription's activity log, if any.

        Activity log events carry the failed operation's status document as a
        JSON string in ``properties.statusMessage`` (``{"status": "Failed",
        "error": {"code": …, "message": …}}``). Reading it needs only Reader.
        """
        if not resource_id:
            return None
        since = (self.clock() - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        url = (
            f"https://management.azure.com/subscriptions/{self.subscription_id}/providers/Microsoft.Insights/"
            "eventtypes/management/values"
        )
        query = {
            "api-version": "2015-04-01",
            "$filter": f"eventTimestamp ge '{since}' and resourceUri eq '{resource_id}'",
            "$select": "status,properties,eventTimestamp",
        }
        client = self._client(ResourceManagementClient)

        def read() -> list[dict[str, Any]]:
            response = client.send_request(HttpRequest("GET", url, params=query))
            response.raise_for_status()
            return list(response.json().get("value") or [])

        try:  # read with the usual retries: a throttled read would lose the reason (and a quota's class)
            events = self._call(read, resource_id) or []
        except (errors.ProviderError, ValueError):
            return None  # the reason is a courtesy: the failure is reported without it
        for event in sorted(events, key=lambda item: str(item.get("eventTimestamp", "")), reverse=True):
            if str((event.get("status") or {}).get("value", "")).lower() != "failed":
                continue
            try:
                status = json.loads((event.get("properties") or {}).get("statusMessage") or "{}")
            except ValueError:
                continue
            error = status.get("error") if isinstance(status, dict) else None
            if isinstance(error, dict) and error.get("message"):
                return error
        return None

    def _wait(
        self, begin: Callable[..., LROPoller[Any]], get: Callable[[], Any], resource: str, what: str
    ) -> dict[str, Any]:
        """Start a short write and wait, reading the resource with GET, until Azure has finished it.

        Gives up with :class:`~providers.errors.TimedOut` after
        :data:`SHORT_OPERATION_SECONDS`; the next ensure finds the resource
        and waits again rather than writing it again.
        """
        self._start(begin, resource)
        return self._settle(get, resource, what)

    def _settle(self, get: Callable[[], Any], resource: str, what: str) -> dict[str, Any]:
        """Read the resource until its last write has finished (ProvisioningFailed if it failed)."""
        interval = SHORT_OPERATION_POLL_SECONDS if self.polling_interval is None else self.polling_interval
        return wait_until(
            lambda: self._get(get, resource),
            lambda found: self._done(found, what),
            timeout_seconds=SHORT_OPERATION_SECONDS,
            interval_seconds=interval or 0.001,
            sleep=self.sleep if interval else _no_wait,
            what=f"the {what} {resource}",
        )

    def _delete(self, begin: Callable[[], Any], resource: str = "") -> None:
        """Delete and wait; a resource already gone is deleted."""

        def run() -> None:
            answer = begin()
            if isinstance(answer, LROPoller):
                answer.result()

        try:
            self._call(run, resource)
        except errors.NotFound:
            return

    def _start_delete(self, begin: Callable[..., LROPoller[Any]], resource: str = "") -> None:
        """Send a long-running delete and return once Azure has accepted it (202), without waiting for it.

        Deleting an AKS cluster, a flexible server or a cache takes minutes:
        the caller reads the resource until it is NotFound (a workflow step
        answers NotYet meanwhile), as for creates. A resource already gone
        is deleted.
        """
        try:
            self._call(lambda: begin(polling=False), resource)
        except errors.NotFound:
            return

    def _ensure_resource_group(self, group: str = "", location: str = "") -> None:
        """Create a resource group (the driver's, by default) the first time something is created in it."""
        group, location = group or self.resource_group, location or self.location
        if group == self.resource_group and self._resource_group_ready:
            return
        groups = self._client(ResourceManagementClient).resource_groups
        if self._find(lambda: groups.get(group), group) is None:
            self._call(
                lambda: groups.create_or_update(
                    group, _rest({"location": location, "tags": {"portal:managed-by": "platform-portal"}})
                ),
                group,
            )
        if group == self.resource_group:
            self._resource_group_ready = True

    def resource_group_in(self, region: str) -> str:
        """The resource group this installation uses in ``region``: ``platform-portal-<region>`` when the driver's
        own group is the default one, else the driver's group (one configured group holds every region)."""
        if self.resource_group == f"platform-portal-{self.location}":
            return f"platform-portal-{_location(region)}"
        return self.resource_group

    def _tags(self, tags: Mapping[str, str], name: str) -> dict[str, str]:
        return {**tags, NAME_TAG: name}

    def tenant_id(self) -> str:
        """The Entra tenant: as configured, else the ``tid`` claim of a management token."""
        if not self._tenant_id:
            claims = self._management_claims()
            if not claims:
                raise errors.InvalidRequest("the management token carries no tenant; configure tenant_id")
            self._tenant_id = str(claims.get("tid", ""))
        return self._tenant_id

    def principal_id(self) -> str:
        """The portal identity's Entra object id: as configured, else the ``oid`` claim of a management token.

        Entra access tokens carry ``oid``, "the immutable identifier for the
        requestor, which is the verified identity of the user or service
        principal" (Microsoft identity platform, access token claims).
        """
        if not self._principal_id:
            self._principal_id = str(self._management_claims().get("oid", ""))
            if not self._principal_id:
                raise errors.InvalidRequest(
                    "the management token names no principal (oid); configure the portal identity's object id"
                )
        return self._principal_id

    def _management_claims(self) -> dict[str, Any]:
        token = self._call(lambda: self.credential.get_token(ARM_SCOPE))
        assert token is not None  # noqa: S101 (get_token returns a token or raises)
        return _claims(token.token)

    def _arm(
        self, method: str, path: str, api_version: str, body: dict[str, Any] | None = None, **params: str
    ) -> dict[str, Any]:
        """One ARM request the installed SDKs have no operation for (role assignments, metrics, private DNS), as
        JSON, with retries and typed errors."""
        return self._call(partial(self._arm_send, method, path, api_version, body, **params), path) or {}

    def _arm_send(
        self, method: str, path: str, api_version: str, body: dict[str, Any] | None = None, **params: str
    ) -> dict[str, Any]:
        """One ARM request, once (azure-core errors as they come)."""
        client = self._client(ResourceManagementClient)
        request = HttpRequest(
            method,
            f"https://management.azure.com{path}",
            params={"api-version": api_version, **params},
            json=body,
        )
        response = client.send_request(request)
        response.raise_for_status()
        if not response.content:
            return {}
        answer: dict[str, Any] = response.json()
        return answer

    def _ensure_role(self, scope: str, role_id: str) -> None:
        """Give the portal's identity the built-in role ``role_id`` on ``scope``, unless an earlier run did.

        Looks first (GET by the deterministic name), then PUTs; an assignment of
        the same role made under another name (409 RoleAssignmentExists) is as
        good. Azure says new assignments can take a few minutes to take effect.
        """
        principal = self.principal_id()
        path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/" + role_assignment_name(
            scope, role_id, principal
        )
        if self._find(partial(self._arm, "GET", path, ROLE_API_VERSION), path) is not None:
            return
        body = {
            "properties": {
                "roleDefinitionId": (
                    f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"
                ),
                "principalId": principal,
                # Set for a service principal, so that one created moments ago is not refused as unknown while Entra
                # replicates it ("Assign Azure roles using the REST API").
                "principalType": "ServicePrincipal",
            }
        }
        try:
            self._arm("PUT", path, ROLE_API_VERSION, body)
        except errors.Conflict as conflict:
            if "RoleAssignmentExists" not in str(conflict):
                raise
        except errors.PermissionDenied as denied:
            # Assigning roles takes Microsoft.Authorization/roleAssignments/write, which Contributor lacks.
            raise errors.PermissionDenied(
                f"The portal's identity may not give itself the role {ROLE_NAMES.get(role_id, role_id)} on "
                f"{scope.rsplit('/', 1)[-1]}: give it Role Based Access "
                "Control Administrator (or User Access Administrator) on the subscription or resource group, or "
                f"assign that role to it yourself. Azure said: {denied}",
                resource=scope,
            ) from denied

    # ------------------------------------------------------------ private endpoints

    def _ensure_private_endpoint(self, service: str, target: dict[str, Any], subnet_id: str) -> None:
        """Reach ``target`` (a server or cache with public access off) from the VNet of ``subnet_id`` only.

        A private endpoint in the subnet, connected to the target's
        ``groupId``; the service's ``privatelink`` DNS zone linked to the VNet;
        and a DNS zone group on the endpoint, so that the target's usual host
        name resolves to the endpoint's private address inside the VNet.
        """
        group_id, zone = PRIVATE_LINKS[service]
        vnet_id = subnet_id.split("/subnets/")[0]
        zone_path = (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/privateDnsZones/{zone}"
        )
        self._ensure_global(zone_path, {"location": "global"}, "private DNS zone")
        link_path = f"{zone_path}/virtualNetworkLinks/{_parse_id(vnet_id)['virtualnetworks']}"
        link = {
            "location": "global",
            "properties": {"virtualNetwork": {"id": vnet_id}, "registrationEnabled": False},
        }
        self._ensure_global(link_path, link, "private DNS zone link")
        endpoints = self.network.private_endpoints
        name = f"{target['name']}-pe"
        get_endpoint = partial(endpoints.get, self.resource_group, name)
        if self._find(get_endpoint, name) is None:
            body = {
                "location": self.location,
                "tags": dict(target.get("tags") or {}),
                "properties": {
                    "subnet": {"id": subnet_id},
                    "privateLinkServiceConnections": [
                        {"name": name, "properties": {"privateLinkServiceId": target["id"], "groupIds": [group_id]}}
                    ],
                },
            }
            self._wait(
                partial(endpoints.begin_create_or_update, self.resource_group, name, _rest(body)),
                get_endpoint,
                name,
                "private endpoint",
            )
        groups = self.network.private_dns_zone_groups
        get_group = partial(groups.get, self.resource_group, name, "default")
        if self._find(get_group, name) is None:
            body = {
                "properties": {
                    "privateDnsZoneConfigs": [
                        {"name": zone.replace(".", "-"), "properties": {"privateDnsZoneId": zone_path}}
                    ]
                }
            }
            self._wait(
                partial(groups.begin_create_or_update, self.resource_group, name, "default", _rest(body)),
                get_group,
                name,
                "private DNS zone group",
            )

    def _ensure_global(self, path: str, body: dict[str, Any], what: str) -> None:
        """A resource written through plain ARM requests (no SDK here): looked for, PUT if missing, then read
        until its write has finished."""
        get = partial(self._arm_send, "GET", path, PRIVATE_DNS_API_VERSION)
        if self._find(get, path) is None:
            self._arm("PUT", path, PRIVATE_DNS_API_VERSION, body)
        self._settle(get, path, what)

    def _delete_private_endpoint(self, target_name: str) -> None:
        """Delete the private endpoint made for ``target_name`` and wait (it holds an address in the subnet, and a
        subnet in use cannot be deleted); a missing one is already deleted."""
        self._delete(
            lambda: self.network.private_endpoints.begin_delete(self.resource_group, f"{target_name}-pe"),
            f"{target_name}-pe",
        )

    def check_access(self) -> AccessCheck:
        """The permissions pre-flight of the principal (:mod:`providers.azure.access`)."""
        from providers.azure.access import check_access

        return check_access(self)

    # ------------------------------------------------------------ network

    def ensure_network(self, spec: NetworkSpec) -> NetworkInfo:
        """Create the VNet, the NAT gateway with its public IP, and each missing subnet (private ones on the NAT)."""
        tags = self._tags(spec.tags, spec.name)
        networks = self.network
        get_vnet = partial(networks.virtual_networks.get, self.resource_group, spec.name)
        vnet = self._find(get_vnet, spec.name)
        if vnet is None:
            self._ensure_resource_group()
            self._wait(
                partial(
                    networks.virtual_networks.begin_create_or_update,
                    self.resource_group,
                    spec.name,
                    _rest(
                        {
                            "location": self.location,
                            "tags": tags,
                            "properties": {"addressSpace": {"addressPrefixes": [spec.cidr]}},
                        }
                    ),
                ),
                get_vnet,
                spec.name,
                "virtual network",
            )
        else:
            self._settle(get_vnet, spec.name, "virtual network")
        nat_id = self._ensure_nat_gateway(spec.name, tags) if spec.nat_gateway else None
        existing = {
            subnet["name"]: subnet
            for subnet in self._list(lambda: networks.subnets.list(self.resource_group, spec.name), spec.name)
        }
        plan = [
            (cidr, zone, True, index)
            for index, (cidr, zone) in enumerate(zip(spec.public_subnet_cidrs, spec.availability_zones, strict=False))
        ]
        plan += [
            (cidr, zone, False, index)
            for index, (cidr, zone) in enumerate(zip(spec.private_subnet_cidrs, spec.availability_zones, strict=False))
        ]
        for cidr, zone, public, index in plan:
            name = _subnet_name(public, index, zone)
            properties: dict[str, Any] = {"addressPrefix": cidr}
            if nat_id and not public:
                properties["natGateway"] = {"id": nat_id}
            current = existing.get(name)
            get_subnet = partial(networks.subnets.get, self.resource_group, spec.name, name)
            if current is not None:
                attached = (current.get("properties", {}).get("natGateway") or {}).get("id")
                if attached == properties.get("natGateway", {}).get("id"):
                    self._settle(get_subnet, f"{spec.name}/{name}", "subnet")
                    continue
            self._wait(
                partial(
                    networks.subnets.begin_create_or_update,
                    self.resource_group,
                    spec.name,
                    name,
                    _rest({"properties": properties}),
                ),
                get_subnet,
                f"{spec.name}/{name}",
                "subnet",
            )
        return self.describe_network(spec.name)

    def _ensure_nat_gateway(self, name: str, tags: dict[str, str]) -> str:
        networks = self.network
        nat_name = f"{name}-nat"
        get_gateway = partial(networks.nat_gateways.get, self.resource_group, nat_name)
        gateway = self._find(get_gateway, nat_name)
        if gateway is not None:
            return str(self._settle(get_gateway, nat_name, "NAT gateway")["id"])
        ip_name = f"{name}-nat-ip"
        get_address = partial(networks.public_ip_addresses.get, self.resource_group, ip_name)
        address = self._find(get_address, ip_name)
        if address is None:
            address = self._wait(
                partial(
                    networks.public_ip_addresses.begin_create_or_update,
                    self.resource_group,
                    ip_name,
                    _rest(
                        {
                            "location": self.location,
                            "tags": tags,
                            "sku": {"name": "Standard"},
                            "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"},
                        }
                    ),
                ),
                get_address,
                ip_name,
                "public IP address",
            )
        else:
            address = self._settle(get_address, ip_name, "public IP address")
        gateway = self._wait(
            partial(
                networks.nat_gateways.begin_create_or_update,
                self.resource_group,
                nat_name,
                _rest(
                    {
                        "location": self.location,
                        "tags": tags,
                        "sku": {"name": "Standard"},
                        "properties": {"publicIpAddresses": [{"id": address["id"]}], "idleTimeoutInMinutes": 4},
                    }
                ),
            ),
            get_gateway,
            nat_name,
            "NAT gateway",
        )
        return str(gateway["id"])

    def describe_network(self, name: str) -> NetworkInfo:
        """The VNet, its subnets (zone read from the subnet name) and the NAT gateways they use, or NotFound."""
        vnet = self._get(lambda: self.network.virtual_networks.get(self.resource_group, name), name)
        properties = vnet.get("properties", {})
        subnets = sorted(
            properties.get("subnets") or [],
            key=lambda subnet: ipaddress.ip_network(subnet.get("properties", {}).get("addressPrefix", "0.0.0.0/32")),
        )
        nat_ids: list[str] = []
        for subnet in subnets:
            nat = (subnet.get("properties", {}).get("natGateway") or {}).get("id")
            if nat and nat not in nat_ids:
                nat_ids.append(nat)
        return NetworkInfo(
            id=vnet["id"],
            name=name,
            cidr=(properties.get("addressSpace", {}).get("addressPrefixes") or [""])[0],
            status=_status(properties.get("provisioningState")),
            subnets=tuple(
                SubnetInfo(
                    id=subnet["id"],
                    cidr=subnet.get("properties", {}).get("addressPrefix", ""),
                    availability_zone=_subnet_zone(subnet["name"]),
                    public=subnet["name"].startswith("public-"),
                )
                for subnet in subnets
            ),
            nat_gateway_ids=tuple(nat_ids),
            tags=dict(vnet.get("tags") or {}),
        )

    def delete_network(self, name: str) -> None:
        """Delete the VNet (with its subnets), then its NAT gateway and the gateway's public IP."""
        networks = self.network
        self._delete(lambda: networks.virtual_networks.begin_delete(self.resource_group, name), name)
        self._delete(lambda: networks.nat_gateways.begin_delete(self.resource_group, f"{name}-nat"), name)
        self._delete(lambda: networks.public_ip_addresses.begin_delete(self.resource_group, f"{name}-nat-ip"), name)

    # ------------------------------------------------------------ AKS

    def _pool_profile(self, pool: NodePoolSpec, subnet_id: str, mode: str) -> dict[str, Any]:
        """An agent pool: autoscaled between min and max, spot when asked, GPU pools tainted."""
        profile: dict[str, Any] = {
            "mode": mode,
            "vmSize": pool.instance_type,
            "count": pool.desired_size,
            "minCount": pool.min_size,
            "maxCount": pool.max_size,
            "enableAutoScaling": True,
            "osType": "Linux",
            "type": "VirtualMachineScaleSets",
            "nodeLabels": {POOL_KIND_LABEL: pool.kind},
        }
        if subnet_id:
            profile["vnetSubnetID"] = subnet_id
        if pool.spot:
            # AKS adds the kubernetes.azure.com/scalesetpriority=spot:NoSchedule taint itself.
            profile.update({"scaleSetPriority": "Spot", "scaleSetEvictionPolicy": "Delete", "spotMaxPrice": -1})
        if pool.kind == "gpu":
            profile["nodeTaints"] = [GPU_TAINT]
        return profile

    @staticmethod
    def _system_pool(spec: KubernetesClusterSpec) -> NodePoolSpec:
        for pool in spec.node_pools:
            if pool.kind == "general" and not pool.spot:
                return pool
        raise errors.InvalidRequest(
            "AKS needs an on-demand general node pool for its system pods; the spec has none", resource=spec.name
        )

    def ensure_kubernetes_cluster(self, spec: KubernetesClusterSpec) -> KubernetesClusterInfo:
        """Start the managed cluster with its system pool if missing; once it is up, each missing user pool.

        Returns at once: the cluster is ``creating`` until Azure has built it,
        then ``updating`` while a user pool is added (AKS runs one operation
        on a cluster at a time, so the pools are started one per call, each
        after the one before it is done). The control plane and kubelets run
        as the cluster's system-assigned identity (``control_plane_role`` and
        ``node_role`` are AWS words and unused here); sign-in is Microsoft
        Entra only, with Azure RBAC.
        """
        names.check("aks_cluster", spec.name)
        system = self._system_pool(spec)
        subnet_id = spec.subnet_ids[0] if spec.subnet_ids else ""
        clusters = self.aks.managed_clusters
        cluster = self._find(lambda: clusters.get(self.resource_group, spec.name), spec.name)
        if cluster is None:
            self._ensure_resource_group()
            body = {
                "location": self.location,
                "tags": self._tags(spec.tags, spec.name),
                "identity": {"type": "SystemAssigned"},
                "properties": {
                    "kubernetesVersion": spec.version,
                    "dnsPrefix": spec.name,
                    "agentPoolProfiles": [{"name": system.name, **self._pool_profile(system, subnet_id, "System")}],
                    "aadProfile": {"managed": True, "enableAzureRBAC": True},
                    "disableLocalAccounts": True,
                    # NetworkPolicy objects are enforced only with a network policy engine ("Secure traffic between
                    # pods by using network policies in AKS"): Azure CNI powered by Cilium, the engine AKS
                    # recommends (networkPolicy cilium "requires networkDataplane to be 'cilium'"), with pod IPs
                    # from an overlay so that pods do not use up the /24 node subnets.
                    "networkProfile": {
                        "networkPlugin": "azure",
                        "networkPluginMode": "overlay",
                        "networkDataplane": "cilium",
                        "networkPolicy": "cilium",
                    },
                },
            }
            self._start(
                partial(clusters.begin_create_or_update, self.resource_group, spec.name, _rest(body)), spec.name
            )
            return self.describe_kubernetes_cluster(spec.name)
        self._done(cluster, "AKS cluster")
        # What is reported is read last; the role and the pools follow once that says "available" (looking may
        # be what finishes the create), so no call reports a usable cluster whose role was not given.
        info = self.describe_kubernetes_cluster(spec.name)
        if info.status != "available":
            return info
        # Local accounts are off and Azure RBAC decides who may do what inside the cluster: the portal's identity
        # needs a role there before it can create namespaces, quotas and network policies.
        self._ensure_role(info.id, AKS_RBAC_CLUSTER_ADMIN)
        for pool in spec.node_pools:
            if self.ensure_node_pool(spec.name, pool, spec.node_role).status != "available":
                return self.describe_kubernetes_cluster(spec.name)
        return info

    def ensure_node_pool(self, cluster_name: str, pool: NodePoolSpec, node_role: str = "") -> NodePoolInfo:
        """Start the agent pool if missing, in the subnet of the cluster's first pool; it is ``creating`` until
        Azure has built it. While the cluster is busy with another operation, this is Busy."""
        pools = self.aks.agent_pools
        resource = f"{cluster_name}/{pool.name}"
        get_pool = partial(pools.get, self.resource_group, cluster_name, pool.name)
        found = self._find(get_pool, resource)
        if found is None:
            cluster = self._get(lambda: self.aks.managed_clusters.get(self.resource_group, cluster_name), cluster_name)
            profiles = cluster.get("properties", {}).get("agentPoolProfiles") or [{}]
            subnet_id = profiles[0].get("vnetSubnetID", "")
            self._start(
                partial(
                    pools.begin_create_or_update,
                    self.resource_group,
                    cluster_name,
                    pool.name,
                    _rest({"properties": self._pool_profile(pool, subnet_id, "User")}),
                ),
                resource,
            )
            found = self._get(get_pool, resource)
        self._done(found, "AKS node pool")
        return self._pool_info(found)

    @staticmethod
    def _pool_info(pool: dict[str, Any]) -> NodePoolInfo:
        properties = pool.get("properties", {})
        return NodePoolInfo(
            name=pool["name"],
            status=_status(properties.get("provisioningState")),
            instance_type=properties.get("vmSize", ""),
            min_size=int(properties.get("minCount") or 0),
            max_size=int(properties.get("maxCount") or 0),
            desired_size=int(properties.get("count") or 0),
            spot=properties.get("scaleSetPriority") == "Spot",
            kind=(properties.get("nodeLabels") or {}).get(POOL_KIND_LABEL, "general"),
        )

    def kubernetes_versions(self) -> list[KubernetesVersionInfo]:
        """AKS's ``ManagedClusters.list_kubernetes_versions`` for the driver's location, newest first.

        Each entry (``{"values": [{"version": "1.33", "isDefault", "isPreview",
        "capabilities": {"supportPlan": [...]}, "patchVersions": {"1.33.2": {"upgrades": [...]}}}]}``) is a
        minor version AKS creates in the location. ``supportPlan`` ``KubernetesOfficial`` is community support
        (standard); a version with only ``AKSLongTermSupport`` can be created only on the Premium tier with
        the long-term support plan, which the driver does not ask for, so it is left out.
        """
        answer = self._get(lambda: self.aks.managed_clusters.list_kubernetes_versions(self.location), self.location)
        offered: list[KubernetesVersionInfo] = []
        for item in answer.get("values") or []:
            plans = (item.get("capabilities") or {}).get("supportPlan") or []
            if not item.get("version") or "KubernetesOfficial" not in plans:
                continue
            patches = sorted(
                (item.get("patchVersions") or {}),
                key=lambda patch: tuple(int(part) if part.isdigit() else -1 for part in patch.split(".")),
                reverse=True,
            )
            offered.append(
                KubernetesVersionInfo(
                    version=item["version"],
                    support="preview" if item.get("isPreview") else "standard",
                    default=bool(item.get("isDefault")),
                    patch_versions=tuple(patches),
                )
            )
        return newest_first(offered)

    def describe_kubernetes_cluster(self, name: str) -> KubernetesClusterInfo:
        """The cluster, its API server and CA (from the user kubeconfig), and its agent pools, or NotFound."""
        clusters = self.aks.managed_clusters
        cluster = self._get(lambda: clusters.get(self.resource_group, name), name)
        properties = cluster.get("properties", {})
        pools = self._list(lambda: self.aks.agent_pools.list(self.resource_group, name), name)
        credentials = self._get(lambda: clusters.list_cluster_user_credentials(self.resource_group, name), name)
        subnets = tuple(
            dict.fromkeys(
                pool["properties"]["vnetSubnetID"] for pool in pools if pool.get("properties", {}).get("vnetSubnetID")
            )
        )
        server, authority = "", ""
        for kubeconfig in credentials.get("kubeconfigs") or []:
            text = base64.b64decode(kubeconfig.get("value", "")).decode()
            server = next(iter(re.findall(r"server:\s*(\S+)", text)), server)
            authority = next(iter(re.findall(r"certificate-authority-data:\s*(\S+)", text)), authority)
        return KubernetesClusterInfo(
            name=name,
            id=cluster["id"],
            status=_status(properties.get("provisioningState")),
            version=properties.get("kubernetesVersion", ""),
            endpoint=server or (f"https://{properties['fqdn']}:443" if properties.get("fqdn") else ""),
            certificate_authority_data=authority,
            node_pools=tuple(self._pool_info(pool) for pool in sorted(pools, key=lambda pool: pool["name"])),
            tags=dict(cluster.get("tags") or {}),
            subnet_ids=subnets,
            # A subnet's id is its virtual network's id followed by /subnets/<name>.
            network_id=subnets[0].rsplit("/subnets/", 1)[0] if subnets else "",
        )

    def delete_node_pool(self, cluster_name: str, pool_name: str) -> None:
        """Start deleting one agent pool; a missing one is already deleted."""
        self._start_delete(
            partial(self.aks.agent_pools.begin_delete, self.resource_group, cluster_name, pool_name),
            f"{cluster_name}/{pool_name}",
        )

    def delete_kubernetes_cluster(self, name: str) -> None:
        """Start deleting the managed cluster (AKS deletes its agent pools with it); it is NotFound once gone."""
        self._start_delete(partial(self.aks.managed_clusters.begin_delete, self.resource_group, name), name)

    def kubernetes_token(self, cluster_name: str) -> tuple[str, datetime]:
        """An Entra ID token for the AKS server application, and when Entra says it expires."""
        self._get(lambda: self.aks.managed_clusters.get(self.resource_group, cluster_name), cluster_name)
        token = self._call(lambda: self.credential.get_token(AKS_SERVER_SCOPE), cluster_name)
        assert token is not None  # noqa: S101 (get_token returns a token or raises)
        return token.token, datetime.fromtimestamp(token.expires_on, tz=UTC)

    # ------------------------------------------------------------ PostgreSQL flexible server

    def _replica_name(self, name: str) -> str:
        return names.fit(f"{name}-replica", names.RULES["postgresql_server"].max_length)

    def ensure_database(self, spec: DatabaseSpec) -> DatabaseInfo:
        """Start the flexible server if missing (backups kept ``backup_retention_days``); once it is ready, its
        Entra administrator and then its DR replica. Returns at once: the server is ``creating`` until Azure has
        built it, and then its ``replica`` is ``creating`` (or still absent) for a while: a caller waits for both.

        Backups are geo-redundant when the spec names a DR region. Point-in-time
        recovery is always on for flexible servers. Sign-in is Microsoft Entra
        only, with the portal's identity as the server's Entra administrator
        (a server without one has nobody who can sign in). Public network
        access is off. A customer-managed key needs a user-assigned identity
        this driver does not create, so ``encryption_key_id`` is refused
        rather than ignored; so is a replica of a Burstable server, which
        Azure cannot replicate.
        """
        if spec.encryption_key_id:
            raise errors.InvalidRequest(
                "customer-managed keys for PostgreSQL need a user-assigned identity; not supported yet",
                resource=spec.name,
            )
        names.check("postgresql_server", spec.name)
        sku = _postgres_sku(spec.instance_class)
        if spec.replica_region and sku["tier"] not in REPLICABLE_TIERS:
            raise errors.InvalidRequest(
                f"Azure cannot make a read replica of a Burstable server ({spec.instance_class}); use a General "
                "Purpose (Standard_D…) or Memory Optimized (Standard_E…) size for a database with a DR replica",
                resource=spec.name,
            )
        servers = self.postgres.servers
        server = self._find(lambda: servers.get(self.resource_group, spec.name), spec.name)
        if server is None:
            self._ensure_resource_group()
            body = {
                "location": self.location,
                "tags": self._tags(spec.tags, spec.name),
                "sku": sku,
                "properties": {
                    "createMode": "Create",
                    "version": spec.engine_version.split(".")[0],
                    "storage": {"storageSizeGB": spec.storage_gb},
                    "backup": {
                        "backupRetentionDays": spec.backup_retention_days,
                        "geoRedundantBackup": "Enabled" if spec.replica_region else "Disabled",
                    },
                    # authConfig: Entra sign-in on, passwords off; the Entra administrators are added once the
                    # server exists (administrators PUT), and "at least one" is needed to sign in at all.
                    "authConfig": {
                        "activeDirectoryAuth": "Enabled",
                        "passwordAuth": "Disabled",
                        "tenantId": self.tenant_id(),
                    },
                    "network": {"publicNetworkAccess": "Disabled"},
                    "highAvailability": {"mode": "Disabled"},
                },
            }
            self._start(partial(servers.begin_create_or_update, self.resource_group, spec.name, _rest(body)), spec.name)
            return self.describe_database(spec.name)
        self._done(server, "PostgreSQL server")
        info = self.describe_database(spec.name)  # read first: the administrator follows once it is available
        if info.status != "available":
            return info
        self._ensure_entra_administrator(spec.name)
        if spec.subnet_ids:
            server = self._get(lambda: servers.get(self.resource_group, spec.name), spec.name)
            self._ensure_private_endpoint("postgresql", server, spec.subnet_ids[0])
        if spec.replica_region:
            self.ensure_database_replica(spec.name, spec.replica_region, placement=spec.replica_placement)
            return self.describe_database(spec.name)
        return info

    def _ensure_entra_administrator(self, server_name: str, group: str = "") -> None:
        """Make the portal's identity an Entra administrator of the server (``administrators/{objectId}`` PUT)."""
        group = group or self.resource_group
        administrators = self.postgres.administrators_microsoft_entra
        principal = self.principal_id()
        get_admin = partial(administrators.get, group, server_name, principal)
        if self._find(get_admin, server_name) is not None:
            return
        body = {
            "properties": {
                "principalType": "ServicePrincipal",
                "principalName": self.principal_name,
                "tenantId": self.tenant_id(),
            }
        }
        self._wait(
            partial(administrators.begin_create_or_update, group, server_name, principal, _rest(body)),
            get_admin,
            server_name,
            "PostgreSQL Entra administrator",
        )

    def _replica_group(self, region: str) -> str:
        return self.resource_group_in(region)

    def _find_replica(self, name: str, region: str) -> tuple[str, dict[str, Any] | None]:
        """The replica of ``name`` meant for ``region`` and its resource group: the partner region's group (where
        the partner's own driver finds it), else this driver's (replicas made by earlier versions)."""
        servers = self.postgres.servers
        replica_name = self._replica_name(name)
        groups = list(dict.fromkeys((self._replica_group(region), self.resource_group)))
        for group in groups:
            found = self._find(partial(servers.get, group, replica_name), replica_name)
            if found is not None:
                return group, found
        return groups[0], None

    def ensure_database_replica(self, name: str, region: str, *, placement: Placement | None = None) -> ReplicaInfo:
        """Start the read replica ``<name>-replica`` in ``region`` (``createMode=Replica``) if missing.

        The replica lives in the partner region's resource group, so that the
        partner's driver finds it when the primary's region is down. It has
        the primary's SKU, which must be General Purpose or Memory Optimized,
        and no public network access: once it is available, a private
        endpoint in ``placement``'s first subnet (a VNet in ``region``) is
        the one way to reach it (a replica does not share its primary's
        private endpoints). Returns at once: the replica is ``creating``
        until Azure has copied the primary, which can take hours.
        """
        servers = self.postgres.servers
        replica_name = self._replica_name(name)
        group, replica = self._find_replica(name, region)
        if replica is None:
            primary = self._get(lambda: servers.get(self.resource_group, name), name)
            tier = (primary.get("sku") or {}).get("tier", "")
            if tier not in REPLICABLE_TIERS:
                raise errors.InvalidRequest(
                    f"Azure cannot make a read replica of {name}: it is a {tier} server (General Purpose or Memory "
                    "Optimized only)",
                    resource=name,
                )
            self._ensure_resource_group(group, _location(region))
            body = {
                "location": region,
                "tags": self._tags(primary.get("tags") or {}, replica_name),
                "sku": primary.get("sku"),
                "properties": {
                    "createMode": "Replica",
                    "sourceServerResourceId": primary["id"],
                    "network": {"publicNetworkAccess": "Disabled"},
                },
            }
            self._start(partial(servers.begin_create_or_update, group, replica_name, _rest(body)), replica_name)
            replica = self._get(partial(servers.get, group, replica_name), replica_name)
        self._done(replica, "PostgreSQL read replica")
        if not _is_replica(replica):
            raise errors.Conflict(
                f"{replica_name} in {region} was promoted to a standalone database; delete it before asking for a "
                "new replica",
                resource=replica_name,
            )
        info = self._replica_info(replica)
        if info.status == "available" and placement is not None and placement.subnet_ids:
            self.in_region(region)._ensure_private_endpoint("postgresql", replica, placement.subnet_ids[0])
        return info

    def in_region(self, region: str) -> AzureCloudDriver:
        """This driver working in ``region``: the same subscription, credential and clients, the region's
        resource group."""
        there = copy.copy(self)
        there.resource_group = self.resource_group_in(region)
        there.location = _location(region)
        there._resource_group_ready = there.resource_group == self.resource_group and self._resource_group_ready
        there._vault_name = None
        return there

    def _replica_info(self, replica: dict[str, Any]) -> ReplicaInfo:
        status = _status(replica.get("properties", {}).get("state"))
        return ReplicaInfo(
            name=replica["name"],
            region=_location(replica.get("location")),
            status=status,
            lag_seconds=self._replica_lag(str(replica.get("id", ""))) if status == "available" else None,
        )

    def _replica_lag(self, replica_id: str) -> float | None:
        """The replica's latest ``physical_replication_delay_in_seconds`` (Azure Monitor, maximum per minute over
        the last 15 minutes), or None when Azure Monitor has no value (yet) or does not answer."""
        if not replica_id:
            return None
        try:
            answer = self._arm(
                "GET",
                f"{replica_id}/providers/Microsoft.Insights/metrics",
                METRICS_API_VERSION,
                metricnames=REPLICA_LAG_METRIC,
                timespan="PT15M",
                interval="PT1M",
                aggregation="Maximum",
            )
        except errors.ProviderError:
            return None  # the lag is then unknown, which the health check reports as such
        points = [
            point
            for metric in answer.get("value") or []
            for series in metric.get("timeseries") or []
            for point in series.get("data") or []
            if point.get("maximum") is not None
        ]
        if not points:
            return None
        latest = max(points, key=lambda point: str(point.get("timeStamp", "")))
        return float(latest["maximum"])

    def _latest_backup(self, group: str, name: str) -> datetime | None:
        """When the server's newest completed backup finished (``backups`` listing, ``completedTime``).

        Azure reports no latest restorable time for a flexible server (only
        ``earliestRestoreDate``): the newest completed backup is the latest
        moment Azure shows it holds. Transaction logs shipped since then may
        restore further, but Azure does not say how far, so the portal does
        not claim it.
        """
        backups = self._list(partial(self.postgres.backups_automatic_and_on_demand.list_by_server, group, name), name)
        times = [
            datetime.fromisoformat(str(backup["properties"]["completedTime"]).replace("Z", "+00:00"))
            for backup in backups
            if (backup.get("properties") or {}).get("completedTime")
        ]
        return max(times).astimezone(UTC) if times else None

    def describe_database(self, name: str) -> DatabaseInfo:
        """The server's state, endpoint, backup retention and restorable time, with its replica, or NotFound."""
        server = self._get(lambda: self.postgres.servers.get(self.resource_group, name), name)
        properties = server.get("properties", {})
        backup = properties.get("backup") or {}
        replicas = self._list(lambda: self.postgres.replicas.list_by_server(self.resource_group, name), name)
        status = _status(properties.get("state"))
        restorable = None
        if status == "available" and backup.get("earliestRestoreDate"):
            restorable = self._latest_backup(self.resource_group, name)
        return DatabaseInfo(
            name=name,
            id=server["id"],
            status=status,
            endpoint=properties.get("fullyQualifiedDomainName", ""),
            port=POSTGRES_PORT,
            engine_version=str(properties.get("version", "")),
            backup_retention_days=int(backup.get("backupRetentionDays") or 0),
            latest_restorable_time=restorable,
            # Azure encrypts every flexible server's storage; dataEncryption only says with whose key.
            encrypted=True,
            replica=self._replica_info(replicas[0]) if replicas else None,
            tags=dict(server.get("tags") or {}),
            # Entra ID sign-in only (no password exists): the reference is the tenant whose admins log in.
            credentials_reference=f"entra-id://{self.tenant_id()}/postgresql/{name}",
        )

    def _primary_reachable(self, replica: dict[str, Any]) -> bool:
        """Whether the replica's source server answers and is Ready (a planned promotion needs it up)."""
        source = str(replica.get("properties", {}).get("sourceServerResourceId") or "")
        if not source:
            return False
        parts = _parse_id(source)
        try:
            primary = self._get(
                partial(self.postgres.servers.get, parts["resourcegroups"], parts["flexibleservers"]), source
            )
        except errors.ProviderError:
            return False
        return _server_ready(primary)

    def promote_database_replica(self, name: str, region: str, backup_retention_days: int = 7) -> DatabaseInfo:
        """Promote ``<name>-replica`` in ``region`` to a standalone server (``replica.promoteMode=standalone``).

        ``promoteOption`` is ``planned`` ("wait for data in the read replica to
        be fully synchronized with its source server") while the primary is up
        and Ready, and ``forced`` ("initiate the operation immediately, without
        waiting") when it is not: a planned promotion cannot finish without the
        primary, which a regional outage takes away. One already promoted is
        only described. Returns once Azure has accepted the promotion: the
        server is ``updating`` until it is done.
        """
        servers = self.postgres.servers
        replica_name = self._replica_name(name)
        group, replica = self._find_replica(name, region)
        if replica is None or _location(replica.get("location")) != _location(region):
            raise errors.NotFound(f"database {name} has no replica in {region}", resource=replica_name)
        if _is_replica(replica):
            option = "planned" if self._primary_reachable(replica) else "forced"
            body = {
                "properties": {
                    "replica": {"promoteMode": "standalone", "promoteOption": option},
                    "backup": {"backupRetentionDays": backup_retention_days},
                }
            }
            self._start(partial(servers.begin_update, group, replica_name, _rest(body)), replica_name)
        else:
            self._done(replica, "promoted PostgreSQL server")
        if group != self.resource_group:
            return self._in_group(group).describe_database(replica_name)
        return self.describe_database(replica_name)

    def _in_group(self, group: str) -> AzureCloudDriver:
        """This driver's twin working in ``group`` (same credential, clients and settings)."""
        twin = AzureCloudDriver.__new__(AzureCloudDriver)
        twin.__dict__.update(self.__dict__)
        twin.resource_group = group
        twin._resource_group_ready = False
        return twin

    def delete_database_replica(self, name: str, region: str) -> None:
        """Start deleting the read replica in ``region``; a missing one is already deleted."""
        group, replica = self._find_replica(name, region)
        if replica is not None and _location(replica.get("location")) == _location(region):
            self.in_region(region)._delete_private_endpoint(replica["name"])
            self._start_delete(partial(self.postgres.servers.begin_delete, group, replica["name"]), replica["name"])

    def delete_database(self, name: str) -> None:
        """Start deleting the server's replicas, then the server (Azure keeps its backups for the retention
        period). Returns at once; the server is NotFound once Azure has deleted it."""
        servers = self.postgres.servers
        try:
            replicas = self._list(lambda: self.postgres.replicas.list_by_server(self.resource_group, name), name)
        except errors.NotFound:
            return
        for replica in replicas:
            group = _parse_id(str(replica.get("id", ""))).get("resourcegroups", self.resource_group)
            self.in_region(_location(replica.get("location")) or self.location)._delete_private_endpoint(
                replica["name"]
            )
            self._start_delete(partial(servers.begin_delete, group, replica["name"]), name)
        self._delete_private_endpoint(name)
        self._start_delete(partial(servers.begin_delete, self.resource_group, name), name)

    # ------------------------------------------------------------ Azure Cache for Redis

    def ensure_cache(self, spec: CacheSpec) -> CacheInfo:
        """Start the cache if missing: TLS only (port 6380), no public network access, ``replicas`` per primary
        on Premium.

        Returns at once: the cache is ``creating`` until Azure has built it.

        Standard caches always have exactly one replica and Basic none; Azure
        Cache for Redis runs Redis 6, so any 6-or-later ``engine_version`` asks
        for the newest it offers.
        """
        sku = _redis_sku(spec.node_type)
        fixed = {"Basic": 0, "Standard": 1}.get(sku["name"])
        if fixed is not None and spec.replicas != fixed:
            raise errors.InvalidRequest(
                f"a {sku['name']} Azure cache has {fixed} replica(s); use a Premium node type for {spec.replicas}",
                resource=spec.name,
            )
        names.check("redis_cache", spec.name)
        caches = self.redis.redis
        cache = self._find(lambda: caches.get(self.resource_group, spec.name), spec.name)
        if cache is not None:
            self._done(cache, "Redis cache")
            info = self.describe_cache(spec.name)
            if info.status == "available" and spec.subnet_ids:
                self._ensure_private_endpoint("redis", cache, spec.subnet_ids[0])
            return info
        else:
            self._ensure_resource_group()
            properties: dict[str, Any] = {
                "sku": sku,
                "enableNonSslPort": False,
                "minimumTlsVersion": "1.2",
                "redisVersion": _redis_version(spec.engine_version),
                # No access from the internet: only through a private endpoint (Private Link works on every
                # tier; a cache with public access disabled ignores firewall rules).
                "publicNetworkAccess": "Disabled",
            }
            if sku["name"] == "Premium":
                properties["replicasPerMaster"] = spec.replicas
            body = {"location": self.location, "tags": self._tags(spec.tags, spec.name), "properties": properties}
            self._start(partial(caches.begin_create, self.resource_group, spec.name, _rest(body)), spec.name)
        return self.describe_cache(spec.name)

    def describe_cache(self, name: str) -> CacheInfo:
        """The cache's state, TLS endpoint, SKU (as ``Premium_P1``) and replicas, or NotFound."""
        cache = self._get(lambda: self.redis.redis.get(self.resource_group, name), name)
        properties = cache.get("properties", {})
        sku = properties.get("sku", {})
        replicas = {"Basic": 0, "Standard": 1}.get(sku.get("name", ""), properties.get("replicasPerMaster") or 1)
        return CacheInfo(
            name=name,
            id=cache["id"],
            status=_status(properties.get("provisioningState")),
            primary_endpoint=properties.get("hostName", ""),
            port=int(properties.get("sslPort") or 0),
            node_type=f"{sku.get('name')}_{sku.get('family')}{sku.get('capacity')}",
            replicas=int(replicas),
            tags=dict(cache.get("tags") or {}),
        )

    def delete_cache(self, name: str) -> None:
        """Delete its private endpoint, then start deleting the cache; it is ``deleting``, then NotFound once gone."""
        self._delete_private_endpoint(name)
        self._start_delete(partial(self.redis.redis.begin_delete, self.resource_group, name), name)

    # ------------------------------------------------------------ Blob storage

    def _account(self, name: str) -> str:
        return storage_account_name(self.subscription_id, name)

    def ensure_bucket(self, spec: BucketSpec) -> BucketInfo:
        """Create the storage account and its container if missing, then versioning, lifecycle and replication.

        Cold storage is the Archive tier ``cold_storage_after_days`` after a
        blob's last change (as S3's move to Glacier). Replication is an object
        replication policy to the target bucket's account, found by its
        ``portal:name`` tag anywhere in the subscription.
        """
        if spec.encryption_key_id:
            raise errors.InvalidRequest(
                "customer-managed keys for storage need a user-assigned identity; not supported yet",
                resource=spec.name,
            )
        storage = self.storage
        account = self._account(spec.name)
        get_account = partial(storage.storage_accounts.get_properties, self.resource_group, account)
        if self._find(get_account, spec.name) is None:
            self._ensure_resource_group()
            body = {
                "location": self.location,
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS"},
                "tags": self._tags(spec.tags, spec.name),
                "properties": {
                    "minimumTlsVersion": "TLS1_2",
                    "allowBlobPublicAccess": False,
                    "supportsHttpsTrafficOnly": True,
                },
            }
            self._wait(
                partial(storage.storage_accounts.begin_create, self.resource_group, account, _rest(body)),
                get_account,
                spec.name,
                "storage account",
            )
        else:
            self._settle(get_account, spec.name, "storage account")
        container = container_name(spec.name)
        if self._find(lambda: storage.blob_containers.get(self.resource_group, account, container), spec.name) is None:
            self._call(
                lambda: storage.blob_containers.create(
                    self.resource_group, account, container, _rest({"properties": {"publicAccess": "None"}})
                ),
                spec.name,
                exists_ok=True,
            )
        replicate = spec.replication_target_bucket is not None
        self._call(
            lambda: storage.blob_services.set_service_properties(
                self.resource_group,
                account,
                _rest(
                    {
                        "properties": {
                            "isVersioningEnabled": spec.versioning or replicate,
                            "changeFeed": {"enabled": replicate},
                        }
                    }
                ),
            ),
            spec.name,
        )
        if spec.cold_storage_after_days is not None:
            self._put_lifecycle(account, spec.cold_storage_after_days, spec.name)
        if spec.replication_target_bucket:
            self._ensure_replication(account, container, spec.replication_target_bucket, spec.name)
        return self.describe_bucket(spec.name)

    def _put_lifecycle(self, account: str, days: int, name: str) -> None:
        rule = {
            "name": COLD_TIER_RULE,
            "enabled": True,
            "type": "Lifecycle",
            "definition": {
                "filters": {"blobTypes": ["blockBlob"]},
                "actions": {"baseBlob": {"tierToArchive": {"daysAfterModificationGreaterThan": days}}},
            },
        }
        self._call(
            lambda: self.storage.management_policies.create_or_update(
                self.resource_group, account, "default", _rest({"properties": {"policy": {"rules": [rule]}}})
            ),
            name,
        )

    def _account_tagged(self, name: str) -> dict[str, Any]:
        """The storage account whose ``portal:name`` is ``name``, in any resource group of the subscription."""
        for account in self._list(lambda: self.storage.storage_accounts.list(), name):
            if (account.get("tags") or {}).get(NAME_TAG) == name:
                return account
        raise errors.NotFound(f"no storage account tagged {NAME_TAG}={name}", resource=name)

    def _ensure_replication(self, account: str, container: str, target: str, name: str) -> None:
        """An object replication policy from this account to the target's: destination side first, as Azure asks."""
        policies = self.storage.object_replication_policies
        source = self._get(lambda: self.storage.storage_accounts.get_properties(self.resource_group, account), name)
        destination = self._account_tagged(target)
        existing = self._list(lambda: policies.list(self.resource_group, account), name)
        if any(policy.get("properties", {}).get("destinationAccount") == destination["id"] for policy in existing):
            return
        body: dict[str, Any] = {
            "properties": {
                "sourceAccount": source["id"],
                "destinationAccount": destination["id"],
                "rules": [{"sourceContainer": container, "destinationContainer": container_name(target)}],
            }
        }
        target_group = _parse_id(destination["id"])["resourcegroups"]
        accepted = self._get(
            lambda: policies.create_or_update(target_group, destination["name"], "default", _rest(body)), target
        )
        body["properties"]["rules"] = accepted.get("properties", {}).get("rules", body["properties"]["rules"])
        self._call(
            lambda: policies.create_or_update(
                self.resource_group, account, accepted["properties"]["policyId"], _rest(body)
            ),
            name,
        )

    def describe_bucket(self, name: str) -> BucketInfo:
        """The account's location, versioning, archive age, replication target and tags, or NotFound."""
        storage = self.storage
        account_name = self._account(name)
        account = self._get(lambda: storage.storage_accounts.get_properties(self.resource_group, account_name), name)
        service = self._get(lambda: storage.blob_services.get_service_properties(self.resource_group, account_name))
        policy = self._find(lambda: storage.management_policies.get(self.resource_group, account_name, "default"), name)
        cold_after = None
        for rule in ((policy or {}).get("properties", {}).get("policy") or {}).get("rules", []):
            archive = rule.get("definition", {}).get("actions", {}).get("baseBlob", {}).get("tierToArchive")
            if rule.get("name") == COLD_TIER_RULE and archive:
                cold_after = int(archive["daysAfterModificationGreaterThan"])
        target = None
        for replication in self._list(
            lambda: storage.object_replication_policies.list(self.resource_group, account_name), name
        ):
            destination = replication.get("properties", {}).get("destinationAccount", "")
            parts = _parse_id(destination)
            found = self._find(
                partial(storage.storage_accounts.get_properties, parts["resourcegroups"], parts["storageaccounts"]),
                destination,
            )
            target = (found.get("tags") or {}).get(NAME_TAG) if found else parts.get("storageaccounts")
        return BucketInfo(
            name=name,
            region=_location(account.get("location")),
            versioning=bool(service.get("properties", {}).get("isVersioningEnabled")),
            replication_target_bucket=target,
            cold_storage_after_days=cold_after,
            tags=dict(account.get("tags") or {}),
        )

    def delete_bucket(self, name: str) -> None:
        """Delete the storage account, and every blob version in it; a missing one is already deleted."""
        account = self._account(name)
        self._delete(lambda: self.storage.storage_accounts.delete(self.resource_group, account), name)

    def _container(self, bucket: str) -> Any:
        """The container ``bucket`` names: a bucket's spec name, or ``<account>/<container>`` for one the portal
        did not create (a Cost Management export's, say)."""
        account, slash, container = bucket.partition("/")
        if not slash:
            account, container = self._account(bucket), container_name(bucket)
        options = {key: value for key, value in self._client_options().items() if key != "polling_interval"}
        service = BlobServiceClient(f"https://{account}.blob.core.windows.net", credential=self.credential, **options)
        return service.get_container_client(container)

    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Blobs whose name starts with ``prefix``, in name order (current versions only)."""
        blobs = self._call(lambda: list(self._container(bucket).list_blobs(name_starts_with=prefix or None)), bucket)
        return [
            ObjectInfo(
                key=blob.name,
                size=int(blob.size),
                last_modified=blob.last_modified.astimezone(UTC),
                etag=str(blob.etag).strip('"'),
            )
            for blob in sorted(blobs or [], key=lambda blob: blob.name)
        ]

    def read_object(self, bucket: str, key: str) -> bytes:
        """The blob's content, or NotFound."""
        body = self._call(lambda: self._container(bucket).download_blob(key).readall(), f"{bucket}/{key}")
        return bytes(body or b"")

    def open_object(self, bucket: str, key: str) -> IO[bytes]:
        """The blob as a stream: the downloader fetches it range by range as it is read."""
        downloader = self._call(lambda: self._container(bucket).download_blob(key), f"{bucket}/{key}")
        return io.BufferedReader(_BlobChunks(downloader))

    # ------------------------------------------------------------ Key Vault

    @property
    def vault_name(self) -> str:
        """This driver's key vault: the one named for the installation, or the vault an earlier version made
        under the name without the installation's id when only that one exists (its keys stay in use)."""
        if self._vault_name is None:
            named = key_vault_name(self.subscription_id, self.resource_group, self.location, self.installation_id)
            earlier = key_vault_name(self.subscription_id, self.resource_group, self.location)
            if named != earlier:
                vaults = self.keyvault.vaults
                if self._find(partial(vaults.get, self.resource_group, named), named) is None and (
                    self._find(partial(vaults.get, self.resource_group, earlier), earlier) is not None
                ):
                    named = earlier
            self._vault_name = named
        return self._vault_name

    def _ensure_vault(self) -> dict[str, Any]:
        """The vault (RBAC authorization), with Key Vault Crypto Officer on it for the portal's identity.

        With ``enableRbacAuthorization`` the vault's data plane (deleting a
        key, say) answers only to Azure role assignments on it; the
        management plane that creates keys is not enough.
        """
        vault = self._vault()
        self._ensure_role(str(vault["id"]), KEY_VAULT_CRYPTO_OFFICER)
        return vault

    def _vault(self) -> dict[str, Any]:
        vaults = self.keyvault.vaults
        get_vault = partial(vaults.get, self.resource_group, self.vault_name)
        if self._find(get_vault, self.vault_name) is not None:
            return self._settle(get_vault, self.vault_name, "key vault")
        self._ensure_resource_group()
        body = {
            "location": self.location,
            "tags": {NAME_TAG: self.vault_name},
            "properties": {
                "tenantId": self.tenant_id(),
                "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": True,
                "enableSoftDelete": True,
                "softDeleteRetentionInDays": 90,
                "enablePurgeProtection": True,
            },
        }
        return self._wait(
            partial(vaults.begin_create_or_update, self.resource_group, self.vault_name, _rest(body)),
            get_vault,
            self.vault_name,
            "key vault",
        )

    def ensure_key(self, spec: KeySpec) -> KeyInfo:
        """Create the vault if missing, then the RSA key named ``alias`` (``keys.create_if_not_exist``)."""
        try:
            return self.describe_key(spec.alias)
        except errors.NotFound:
            pass
        self._ensure_vault()
        body = {
            "tags": self._tags(spec.tags, spec.alias),
            "properties": {"kty": "RSA", "keySize": 3072, "keyOps": ["encrypt", "decrypt", "wrapKey", "unwrapKey"]},
        }
        self._call(
            lambda: self.keyvault.keys.create_if_not_exist(
                self.resource_group, self.vault_name, spec.alias, _rest(body)
            ),
            spec.alias,
        )
        return self.describe_key(spec.alias)

    def describe_key(self, alias: str) -> KeyInfo:
        """The key named ``alias`` in the driver's vault, or NotFound."""
        key = self._get(lambda: self.keyvault.keys.get(self.resource_group, self.vault_name, alias), alias)
        properties = key.get("properties", {})
        return KeyInfo(
            id=key["id"],
            arn=properties.get("keyUri", ""),
            alias=alias,
            enabled=bool((properties.get("attributes") or {}).get("enabled", True)),
            tags=dict(key.get("tags") or {}),
        )

    def delete_key(self, alias: str) -> None:
        """Soft-delete the key through the vault's data plane (the management API cannot delete keys).

        Purge protection keeps the deleted key for 90 days, so the same alias
        cannot be created again until then (``Conflict``).
        """
        try:
            key = self.describe_key(alias)
        except errors.NotFound:
            return
        self._ensure_vault()  # a vault made before the portal gave itself the role gets it now
        vault_url = key.arn.split("/keys/")[0]
        options = {key: value for key, value in self._client_options().items() if key != "polling_interval"}
        client = KeyClient(vault_url, self.credential, **options)
        polling: dict[str, Any] = {}
        if self.polling_interval is not None:
            polling["_polling_interval"] = self.polling_interval
        try:
            self._call(lambda: client.begin_delete_key(alias, **polling).result(), alias)
        except errors.NotFound:
            return

    # ------------------------------------------------------------ Cost Management

    def fetch_costs(self, start: date, end: date, group_by_tags: Sequence[str] = ()) -> list[CostLineItem]:
        """Daily actual cost of the subscription, grouped by service and one tag (or by service and region)."""
        return self.cost_report(start, end, group_by_tags).items

    def cost_report(self, start: date, end: date, group_by_tags: Sequence[str] = ()) -> CostReport:
        """Daily actual cost of the subscription, grouped by service and one tag (or by service and region).

        Cost Management groups by at most two columns, so at most one tag can
        be asked for; the line items then carry no region (``""``). Asking for
        more is refused rather than answered with queries whose sums overlap.
        Pages come through ``nextLink``; a ``204 No Content`` answer (nothing
        to report yet) is an empty page; a 429 is retried after the wait its
        ``Retry-After`` (or ``x-ms-ratelimit-…-retry-after``) header asks for.
        Every try is counted as a request.
        """
        if len(group_by_tags) + 1 > MAX_COST_GROUPINGS:
            raise errors.InvalidRequest(
                f"Azure Cost Management groups by at most {MAX_COST_GROUPINGS} columns: the service and one tag "
                f"(asked for tags {', '.join(group_by_tags)})"
            )
        if end <= start:
            return CostReport([], 0)
        second = (
            {"type": "TagKey", "name": group_by_tags[0]}
            if group_by_tags
            else {"type": "Dimension", "name": "ResourceLocation"}
        )
        body = {
            "type": "ActualCost",
            "timeframe": "Custom",
            "timePeriod": {
                "from": f"{start.isoformat()}T00:00:00Z",
                "to": f"{(end - timedelta(days=1)).isoformat()}T23:59:59Z",
            },
            "dataset": {
                "granularity": "Daily",
                "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                "grouping": [{"type": "Dimension", "name": "ServiceName"}, second],
            },
        }
        scope = f"/subscriptions/{self.subscription_id}"
        client = self._client(CostManagementClient)
        requests = 0

        def counted(operation: Callable[[], Any]) -> Callable[[], Any]:
            def attempt() -> Any:
                nonlocal requests
                requests += 1
                return operation()

            return attempt

        page = self._get(counted(lambda: client.query.usage(scope, _rest(body))), scope)
        items: list[CostLineItem] = []
        while True:
            items += self._cost_rows(page.get("properties", {}), group_by_tags)
            next_link = page.get("properties", {}).get("nextLink")
            if not next_link:
                return CostReport(items, requests)
            page = self._call(counted(partial(self._post, client, next_link, body)), scope) or {}

    @staticmethod
    def _post(client: CostManagementClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST the query again to a ``nextLink`` (the SDK follows no pages of ``query.usage``); 204 is no rows."""
        response = client.send_request(HttpRequest("POST", url, json=body))
        response.raise_for_status()
        if response.status_code == 204 or not response.content:
            return {}
        answer: dict[str, Any] = response.json()
        return answer

    def _cost_rows(self, result: dict[str, Any], group_by_tags: Sequence[str]) -> list[CostLineItem]:
        columns = [column["name"] for column in result.get("columns", [])]
        amount_column = next((name for name in COST_COLUMNS if name in columns), "Cost")
        items = []
        for values in result.get("rows", []):
            row = dict(zip(columns, values, strict=False))
            day = str(row.get("UsageDate", ""))
            usage_date = (
                date(int(day[:4]), int(day[4:6]), int(day[6:8])) if day.isdigit() else date.fromisoformat(day[:10])
            )
            tags = {group_by_tags[0]: str(row.get("TagValue") or "")} if group_by_tags else {}
            items.append(
                CostLineItem(
                    usage_date=usage_date,
                    service=str(row.get("ServiceName", "")),
                    region="" if group_by_tags else _location(row.get("ResourceLocation")),
                    account=self.subscription_id,
                    tags=tags,
                    amount=Decimal(str(row.get(amount_column, "0"))),
                    currency=str(row.get("Currency") or "USD"),
                    usage_type="",
                    charge_type="Usage",
                )
            )
        return items


def build_azure_driver(
    *,
    auth_method: str,
    tenant_id: str,
    client_id: str,
    client_secret: str,
    subscription_id: str,
    location: str,
    resource_group: str = "",
    installation_id: str = "",
) -> AzureCloudDriver:
    """The driver for one configured Azure account and location (resource group ``platform-portal-<location>``)."""
    return AzureCloudDriver(
        credential_for(auth_method, tenant_id, client_id, client_secret),
        subscription_id,
        location=location,
        resource_group=resource_group or f"platform-portal-{location}",
        tenant_id=tenant_id,
        installation_id=installation_id,
    )


class _BlobChunks(io.RawIOBase):
    """A blob downloader as a raw stream, so that a BufferedReader reads it a chunk (a ranged GET) at a time."""

    def __init__(self, downloader: Any) -> None:
        super().__init__()
        self._downloader = downloader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._downloader.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
