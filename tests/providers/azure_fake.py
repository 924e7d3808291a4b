"""A small, stateful, in-memory Azure for the Azure driver's tests, plugged in as an azure-core ``HttpTransport``.

The real SDK clients build every request and parse every answer; only the
wire is fake. It answers four hosts:

- ``management.azure.com`` (Azure Resource Manager): resources under ARM ids
  (``/subscriptions/…/resourceGroups/…/providers/Microsoft.Network/virtualNetworks/…``)
  with ``provisioningState``; one handler table, :data:`TYPES`, keyed by
  resource type, says how each type's ``PUT`` and ``DELETE`` complete:
  ``async`` (201/202 with ``Azure-AsyncOperation`` and a non-terminal
  ``provisioningState``, "Creating" or "Updating"), ``location`` (202 with
  ``Location``) or at once. A write stays in progress for ``lro_polls``
  looks (polls of its operation, GETs of the resource or of a listing that
  shows it), then ends ``Succeeded`` (or ``Failed``, see below); meanwhile a
  PUT or PATCH on the resource, its parent or its children is refused with
  409 AnotherOperationInProgress, as ARM serialises writes. Errors have ARM's
  body (``{"error": {"code": "ResourceNotFound", …}}``). Cost Management's
  ``query`` answers from seeded rows, pages included; the activity log
  (``Microsoft.Insights/eventtypes/management/values``) holds failed writes.
  ``Microsoft.Authorization/permissions`` lists the caller's permissions
  (:attr:`FakeAzure.permissions`: everything, unless a test narrows it).
- ``<account>.blob.core.windows.net`` (the blob data plane): container
  listings in XML with markers, ranged downloads, ``BlobNotFound``.
- ``<vault>.vault.azure.net`` (the Key Vault data plane): the bearer
  challenge (401 ``WWW-Authenticate``), soft-deleting a key and reading it back.
- ``login.microsoftonline.com`` (Entra ID): OpenID metadata and the token
  endpoint, so a real ``ClientSecretCredential`` can sign in through it.

A new resource whose name breaks its type's naming rule (:data:`NAME_RULES`)
is refused with 400 and the resource provider's code, as Azure refuses it.

``fail_next`` makes the next requests of one method and resource type fail
with a status (429 carries ``Retry-After``); ``fail_operation`` lets the next
long-running operation of a type end ``Failed``.

Azure RBAC is modelled where the driver depends on it: role assignments
(``Microsoft.Authorization/roleAssignments``, GUID names, one per scope, role
and principal) are kept, and a vault with RBAC authorization refuses a key
delete (403) from a principal without Key Vault Crypto Officer on it;
:meth:`FakeAzure.has_role` lets a test check a cluster's role the same way.
Other checks ARM makes that are modelled: a flexible server's SKU name against
its tier, replicas only of General Purpose and Memory Optimized servers, a
planned promotion refused while the source's location is down
(:attr:`FakeAzure.down_locations`, whose resources answer 503), an Entra
administrator only on a server with Entra sign-in, AKS's networkProfile
combinations. Deletes answer 202 with ``Azure-AsyncOperation`` and
``Location`` and finish after a few looks, as creates do. Azure Monitor
answers the replica lag metric (:attr:`FakeAzure.replica_lag`).

What it does not show (docs/providers.md lists it too): real latency (operations
finish after a few looks), Azure Policy, RBAC beyond the above (other tokens and calls are accepted),
capacity or SKU availability, names taken in other tenants, validation of most
request fields, blob versions, object replication actually copying blobs,
lifecycle rules moving blobs, and cost data beyond what a test seeds.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

ARM = "https://management.azure.com"
Json = dict[str, Any]
# The object id of the identity every FakeCredential signs in as (the ``oid`` claim of its tokens).
PORTAL_PRINCIPAL = "7d1c1a52-5f0e-4b8e-9a1e-3c2b6f0d9e41"
# The built-in roles the fake knows (Azure built-in roles): what they allow is checked where it matters.
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
KEY_VAULT_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
BUILT_IN_ROLES = {AKS_RBAC_CLUSTER_ADMIN, KEY_VAULT_CRYPTO_OFFICER}


class FakeError(Exception):
    """An ARM-shaped error answer."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(status: int, body: Any, **headers: str) -> Answer:
    return Answer(status, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})


class FakeResponse(HttpResponseImpl):
    """An azure-core response whose body is already in memory."""

    def __init__(self, request: Any, answer: Answer) -> None:
        super().__init__(
            request=request,
            internal_response=None,
            status_code=answer.status,
            reason="Fake",
            content_type=answer.headers.get("Content-Type", ""),
            headers=case_insensitive_dict(answer.headers),
            # Streamed answers (long-running operations' first responses, blob downloads) read the same bytes.
            stream_download_generator=lambda *args, **kwargs: Chunks(answer.body, self),
        )
        self._content = answer.body

    def close(self) -> None:
        self._is_closed = True


class Chunks:
    """A streamed body, already whole, shaped like azure-core's ``StreamDownloadGenerator`` (the storage SDK
    reads ``response`` and ``content_length`` from it and hangs the blob's properties on it)."""

    def __init__(self, body: bytes, response: Any) -> None:
        self.chunks = iter([body] if body else [])
        self.response = response
        self.content_length = len(body)

    def __iter__(self) -> Chunks:
        return self

    def __next__(self) -> bytes:
        return next(self.chunks)


class FakeTransport(HttpTransport):
    """The transport every client of the driver under test is given."""

    def __init__(self, fake: FakeAzure) -> None:
        self.fake = fake

    def send(self, request: Any, **kwargs: Any) -> FakeResponse:
        return FakeResponse(request, self.fake.handle(request))

    def sleep(self, duration: float) -> None:
        self.fake.poll_sleeps.append(duration)  # pollers wait through the transport; nothing waits here

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass


class FakeCredential:
    """A TokenCredential issuing JWT-shaped tokens (with a ``tid`` claim) for any scope, valid ``lifetime`` seconds."""

    def __init__(self, tenant_id: str, lifetime: int = 3600, principal_id: str = PORTAL_PRINCIPAL) -> None:
        self.tenant_id, self.lifetime, self.principal_id = tenant_id, lifetime, principal_id
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes += scopes
        expires_on = int(time.time()) + self.lifetime

        def part(value: Json) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        claims = {
            "tid": self.tenant_id,
            "oid": self.principal_id,
            "aud": scopes[0] if scopes else "",
            "exp": expires_on,
        }
        return AccessToken(f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl", expires_on)


# ---------------------------------------------------------------- resource types


@dataclass(frozen=True)
class Kind:
    """How one resource type behaves: how its writes complete, what Azure fills in, how it is shown."""

    lro: str | None = "async"  # "async" (Azure-AsyncOperation), "location" (Location), None (at once)
    accepted: int = 201  # the status of a PUT that starts creating (some APIs answer 202)
    create_only: bool = False  # a PUT on an existing one changes nothing
    on_put: Callable[[FakeAzure, Json, Json], None] = lambda fake, resource, body: None
    on_done: Callable[[FakeAzure, Json], None] = lambda fake, resource: None
    on_patch: Callable[[FakeAzure, Json, Json], None] = lambda fake, resource, body: None
    view: Callable[[FakeAzure, Json], Json] = lambda fake, resource: resource


def _require(fake: FakeAzure, resource_id: str, what: str) -> Json:
    found = fake.resources.get(resource_id.lower())
    if found is None:
        raise FakeError(
            400, "InvalidResourceReference", f"{what} {resource_id} referenced by the request was not found"
        )
    return found


def _subnet_put(fake: FakeAzure, subnet: Json, body: Json) -> None:
    nat = (body.get("properties", {}).get("natGateway") or {}).get("id")
    if nat:
        _require(fake, nat, "NAT gateway")


def _nat_put(fake: FakeAzure, gateway: Json, body: Json) -> None:
    for address in body.get("properties", {}).get("publicIpAddresses", []):
        _require(fake, address["id"], "public IP address")


def _vnet_view(fake: FakeAzure, vnet: Json) -> Json:
    subnets = [fake.show(child) for child in fake.children(vnet["id"], "subnets")]
    return {**vnet, "properties": {**vnet["properties"], "subnets": subnets}}


def _network_profile_check(profile: Json) -> None:
    """AKS's rules for networkProfile (ContainerServiceNetworkProfile): networkPolicy cilium "requires
    networkDataplane to be 'cilium'"; the Cilium dataplane and the overlay mode need the azure plugin."""
    plugin, policy = profile.get("networkPlugin"), profile.get("networkPolicy")
    dataplane = profile.get("networkDataplane", "azure")
    if policy == "cilium" and dataplane != "cilium":
        raise FakeError(400, "InvalidParameter", "networkPolicy 'cilium' requires networkDataplane 'cilium'.")
    if dataplane == "cilium" and policy not in (None, "cilium"):
        raise FakeError(400, "InvalidParameter", f"networkDataplane 'cilium' cannot be used with policy {policy!r}.")
    if (dataplane == "cilium" or profile.get("networkPluginMode") == "overlay") and plugin != "azure":
        raise FakeError(400, "InvalidParameter", "Cilium and overlay mode require networkPlugin 'azure'.")
    if policy not in (None, "azure", "calico", "cilium", "none"):
        raise FakeError(400, "InvalidParameter", f"Unknown networkPolicy {policy!r}.")


# AKS's answer to ``GET …/providers/Microsoft.ContainerService/locations/{location}/kubernetesVersions``, in the
# REST API's shape (KubernetesVersionListResult): per minor version whether it is the default or a preview, the
# support plans (``KubernetesOfficial``: community support; ``AKSLongTermSupport`` alone: Premium tier with the
# long-term support plan only), and its patch versions with their upgrades.
AKS_KUBERNETES_VERSIONS: list[Json] = [
    {
        "version": "1.35",
        "capabilities": {"supportPlan": ["KubernetesOfficial"]},
        "isPreview": True,
        "patchVersions": {"1.35.0": {"upgrades": []}},
    },
    {
        "version": "1.34",
        "capabilities": {"supportPlan": ["KubernetesOfficial"]},
        "patchVersions": {"1.34.1": {"upgrades": ["1.34.2", "1.35.0"]}, "1.34.2": {"upgrades": ["1.35.0"]}},
    },
    {
        "version": "1.33",
        "isDefault": True,
        "capabilities": {"supportPlan": ["KubernetesOfficial", "AKSLongTermSupport"]},
        "patchVersions": {"1.33.5": {"upgrades": ["1.33.6", "1.34.2"]}, "1.33.6": {"upgrades": ["1.34.2"]}},
    },
    {
        "version": "1.32",
        "capabilities": {"supportPlan": ["KubernetesOfficial", "AKSLongTermSupport"]},
        "patchVersions": {"1.32.9": {"upgrades": ["1.33.6"]}},
    },
    {
        "version": "1.30",
        "capabilities": {"supportPlan": ["AKSLongTermSupport"]},
        "patchVersions": {"1.30.14": {"upgrades": ["1.31.13"]}},
    },
]


KUBERNETES_VERSIONS_PATH = (
    r"(?i)/subscriptions/[^/]+/providers/Microsoft\.ContainerService/locations/[^/]+/kubernetesVersions"
)


def _cluster_put(fake: FakeAzure, cluster: Json, body: Json) -> None:
    properties = cluster["properties"]
    _network_profile_check(properties.get("networkProfile") or {})
    version = str(body.get("properties", {}).get("kubernetesVersion") or "")
    minor = ".".join(version.split(".")[:2])
    plans = {item["version"]: item["capabilities"]["supportPlan"] for item in fake.kubernetes_versions}
    tier = (body.get("sku") or {}).get("tier", "Free")
    if version and (
        "KubernetesOfficial" not in plans.get(minor, [])
        and not (tier == "Premium" and "AKSLongTermSupport" in plans.get(minor, []))
    ):
        raise FakeError(
            400,
            "K8sVersionNotSupported",
            f"Managed cluster {cluster['name']} is on version {version}, which is not supported in this region. "
            "Please use [az aks get-versions] command to get the supported version list in this region.",
        )
    profiles = body.get("properties", {}).get("agentPoolProfiles") or []
    if not any(profile.get("mode") == "System" for profile in profiles) and not fake.children(
        cluster["id"], "agentPools"
    ):
        raise FakeError(400, "InvalidParameter", "A managed cluster must have at least one System agent pool.")
    for profile in profiles:
        if profile.get("vnetSubnetID"):
            _require(fake, profile["vnetSubnetID"], "subnet")
    properties["fqdn"] = (
        f"{properties.get('dnsPrefix', cluster['name'])}-{_short(cluster['id'])}.hcp.{cluster['location']}.azmk8s.io"
    )
    properties["agentPoolProfiles"] = []
    for profile in profiles:
        pool_properties = {key: value for key, value in profile.items() if key != "name"}
        fake.store(f"{cluster['id']}/agentPools/{profile['name']}", {"properties": pool_properties}, "Creating")


def _cluster_view(fake: FakeAzure, cluster: Json) -> Json:
    pools = [{"name": pool["name"], **pool["properties"]} for pool in fake.children(cluster["id"], "agentPools")]
    return {**cluster, "properties": {**cluster["properties"], "agentPoolProfiles": pools}}


def _cluster_done(fake: FakeAzure, cluster: Json) -> None:
    for pool in fake.children(cluster["id"], "agentPools"):
        pool["properties"]["provisioningState"] = "Succeeded"


def _agent_pool_put(fake: FakeAzure, pool: Json, body: Json) -> None:
    """A pool of a cluster: the cluster is Updating while AKS adds it, as AKS shows."""
    parent = pool["id"].rsplit("/agentPools/", 1)[0]
    cluster = fake.resources.get(parent.lower())
    if cluster is None:
        raise FakeError(404, "ResourceNotFound", f"The managed cluster {parent} was not found.")
    cluster["properties"]["provisioningState"] = "Updating"


def _agent_pool_done(fake: FakeAzure, pool: Json) -> None:
    cluster = fake.resources.get(pool["id"].rsplit("/agentPools/", 1)[0].lower())
    if cluster is not None:
        cluster["properties"]["provisioningState"] = "Succeeded"


# A flexible server's SKU name and tier go together ("Compute options"): B-series Burstable, D-series General
# Purpose, E-series Memory Optimized.
POSTGRES_TIERS = {"B": "Burstable", "D": "GeneralPurpose", "E": "MemoryOptimized"}


def _server_put(fake: FakeAzure, server: Json, body: Json) -> None:
    properties = server["properties"]
    sku = server.get("sku") or {}
    family = str(sku.get("name", "")).removeprefix("Standard_")[:1].upper()
    if sku and POSTGRES_TIERS.get(family) != sku.get("tier"):
        raise FakeError(
            400,
            "InvalidParameterValue",
            f"The SKU {sku.get('name')} is not available in the {sku.get('tier')} tier.",
        )
    properties["state"] = "Provisioning"
    properties["fullyQualifiedDomainName"] = f"{server['name']}.postgres.database.azure.com"
    if properties.get("createMode") == "Replica":
        source = _require(fake, properties["sourceServerResourceId"], "source server")
        if (source.get("sku") or {}).get("tier") not in ("GeneralPurpose", "MemoryOptimized"):
            raise FakeError(
                400,
                "ReplicaNotSupported",
                "Read replicas are not supported for servers in the Burstable tier.",
            )
        for key in ("version", "storage", "backup", "authConfig"):
            properties.setdefault(key, json.loads(json.dumps(source["properties"].get(key))))
        properties["replicationRole"] = "AsyncReplica"
        source["properties"]["replicationRole"] = "Primary"
    properties.setdefault("replicationRole", "None")
    properties.setdefault("backup", {})["earliestRestoreDate"] = fake.now().isoformat()


def _server_done(fake: FakeAzure, server: Json) -> None:
    server["properties"]["state"] = "Ready"
    if not fake.children(server["id"], "backups"):  # the first full backup is taken once the server is up
        fake.add_backup(server["id"], fake.now() - timedelta(minutes=5))


def _server_patch(fake: FakeAzure, server: Json, body: Json) -> None:
    """Promoting a replica (``replica.promoteMode``): it stands alone and replicates from nothing."""
    properties = server["properties"]
    promote = (body.get("properties", {}).get("replica") or {}).get("promoteMode")
    if promote is None:
        return
    properties["state"] = "Updating"
    if properties.get("replicationRole") != "AsyncReplica":
        raise FakeError(400, "ServerIsNotReplica", f"The server {server['name']} is not a read replica.")
    option = (body.get("properties", {}).get("replica") or {}).get("promoteOption", "planned")
    source = fake.resources.get(str(properties.get("sourceServerResourceId", "")).lower())
    source_up = source is not None and source.get("location") not in fake.down_locations
    if option.lower() == "planned" and not source_up:
        # A planned promotion waits for the replica to catch up with its source: with the source down it cannot.
        properties["state"] = "Ready"
        raise FakeError(
            400,
            "SourceServerNotAvailable",
            "A planned promotion needs the source server to be available; use the forced option.",
        )
    fake.promotions.append({"server": server["name"], "option": option.lower()})
    properties.pop("sourceServerResourceId", None)
    properties.pop("createMode", None)
    properties["replicationRole"] = "None"
    properties.pop("replica", None)


def _administrator_put(fake: FakeAzure, admin: Json, body: Json) -> None:
    """A server's Entra administrator: only on a server that accepts Entra sign-in, named by the object id."""
    server = _require(fake, admin["id"].rsplit("/administrators/", 1)[0], "server")
    if (server["properties"].get("authConfig") or {}).get("activeDirectoryAuth") != "Enabled":
        raise FakeError(400, "AadAuthDisabled", "Microsoft Entra authentication is not enabled on the server.")
    try:
        uuid.UUID(admin["name"])
    except ValueError as error:
        raise FakeError(400, "InvalidParameterValue", "The administrator's name must be its object id.") from error
    if not admin["properties"].get("principalName") or not admin["properties"].get("principalType"):
        raise FakeError(400, "InvalidParameterValue", "principalName and principalType are required.")


# Private Link's target sub-resources (groupIds) and DNS zones per target type ("Azure Private Endpoint private DNS
# zone values").
PRIVATE_LINK_GROUPS = {
    "Microsoft.DBforPostgreSQL/flexibleServers": ("postgresqlServer", "privatelink.postgres.database.azure.com"),
    "Microsoft.Cache/redis": ("redisCache", "privatelink.redis.cache.windows.net"),
}


def _private_endpoint_put(fake: FakeAzure, endpoint: Json, body: Json) -> None:
    """A private endpoint: in an existing subnet, connected to an existing resource by that type's groupId."""
    properties = endpoint["properties"]
    subnet_id = (properties.get("subnet") or {}).get("id", "")
    _require(fake, subnet_id, "subnet")
    # "The private endpoint must be deployed in the same region and subscription as the virtual network."
    vnet = _require(fake, subnet_id.split("/subnets/")[0], "virtual network")
    if vnet.get("location") != endpoint.get("location"):
        raise FakeError(
            400,
            "InvalidPrivateEndpointLocation",
            f"The private endpoint in {endpoint.get('location')} cannot use a subnet of a network in "
            f"{vnet.get('location')}.",
        )
    for connection in properties.get("privateLinkServiceConnections") or []:
        target = _require(fake, connection["properties"]["privateLinkServiceId"], "private link resource")
        expected = PRIVATE_LINK_GROUPS.get(target["type"], ("", ""))[0]
        if connection["properties"].get("groupIds") != [expected]:
            raise FakeError(
                400,
                "PrivateEndpointBadRequest",
                f"Group id {connection['properties'].get('groupIds')} is not valid for {target['type']}.",
            )
        connection["properties"]["privateLinkServiceConnectionState"] = {"status": "Approved"}


def _dns_zone_group_put(fake: FakeAzure, group: Json, body: Json) -> None:
    for config in group["properties"].get("privateDnsZoneConfigs") or []:
        _require(fake, config["properties"]["privateDnsZoneId"], "private DNS zone")


def _zone_link_put(fake: FakeAzure, link: Json, body: Json) -> None:
    _require(fake, (link["properties"].get("virtualNetwork") or {}).get("id", ""), "virtual network")


def _vnet_delete_check(fake: FakeAzure, vnet: Json) -> None:
    """A subnet holding a private endpoint cannot be deleted, nor its VNet (InUseSubnetCannotBeDeleted)."""
    prefix = vnet["id"].lower() + "/subnets/"
    for resource in fake.resources.values():
        subnet = (resource["properties"].get("subnet") or {}).get("id", "") if resource.get("properties") else ""
        if resource["type"] == "Microsoft.Network/privateEndpoints" and subnet.lower().startswith(prefix):
            raise FakeError(
                400,
                "InUseSubnetCannotBeDeleted",
                f"Subnet {subnet.rsplit('/', 1)[1]} is in use by {resource['id']} and cannot be deleted.",
            )


def _redis_put(fake: FakeAzure, cache: Json, body: Json) -> None:
    properties = cache["properties"]
    properties.update(
        {"hostName": f"{cache['name']}.redis.cache.windows.net", "port": 6379, "sslPort": 6380, "redisVersion": "6.0"}
    )
    if properties["sku"]["name"] == "Premium":
        properties.setdefault("replicasPerMaster", 1)


def _account_put(fake: FakeAzure, account: Json, body: Json) -> None:
    for other in fake.resources.values():
        if other["type"] == account["type"] and other["name"] == account["name"] and other["id"] != account["id"]:
            raise FakeError(409, "StorageAccountAlreadyTaken", f"The storage account named {account['name']} is taken.")
    account["properties"]["primaryEndpoints"] = {"blob": f"https://{account['name']}.blob.core.windows.net/"}


def _container_put(fake: FakeAzure, container: Json, body: Json) -> None:
    account = container["id"].split("/storageAccounts/")[1].split("/")[0]
    fake.blobs.setdefault((account, container["name"]), {})


def _replication_put(fake: FakeAzure, policy: Json, body: Json) -> None:
    properties = policy["properties"]
    if policy["name"] == "default":  # the destination side: Azure names the policy and its rules
        destination = _require(fake, properties["destinationAccount"], "destination account")
        for rule in properties["rules"]:
            if (destination["name"], rule["destinationContainer"]) not in fake.blobs:
                raise FakeError(400, "ContainerNotFound", f"container {rule['destinationContainer']} does not exist")
        policy_id = _short(policy["id"], 32)
        properties["policyId"] = policy_id
        for rule in properties["rules"]:
            rule.setdefault("ruleId", _short(policy_id + rule["sourceContainer"], 32))
        fake.resources.pop(policy["id"].lower())
        policy["id"] = policy["id"].rsplit("/", 1)[0] + "/" + policy_id
        policy["name"] = policy_id
        fake.resources[policy["id"].lower()] = policy
    else:
        properties["policyId"] = policy["name"]


def _vault_put(fake: FakeAzure, vault: Json, body: Json) -> None:
    vault["properties"]["vaultUri"] = f"https://{vault['name']}.vault.azure.net/"


def _key_put(fake: FakeAzure, key: Json, body: Json) -> None:
    vault_id, _, name = key["id"].rpartition("/keys/")
    vault = fake.resources.get(vault_id.lower())
    if vault is None:
        raise FakeError(404, "ResourceNotFound", f"The vault {vault_id} was not found.")
    if (vault["name"], name) in fake.deleted_keys:
        raise FakeError(409, "Conflict", f"Key {name} is currently in a deleted but recoverable state.")
    uri = f"{vault['properties']['vaultUri']}keys/{name}"
    key["properties"].update(
        {
            "keyUri": uri,
            "keyUriWithVersion": f"{uri}/{_short(key['id'], 32)}",
            "attributes": {"enabled": True, "created": int(fake.now().timestamp())},
        }
    )


TYPES: dict[str, Kind] = {
    "Microsoft.Network/virtualNetworks": Kind(view=_vnet_view),
    "Microsoft.Network/virtualNetworks/subnets": Kind(on_put=_subnet_put),
    "Microsoft.Network/natGateways": Kind(on_put=_nat_put),
    "Microsoft.Network/publicIPAddresses": Kind(
        on_put=lambda fake, address, body: address["properties"].update({"ipAddress": "20.61.12.7"})
    ),
    "Microsoft.ContainerService/managedClusters": Kind(on_put=_cluster_put, on_done=_cluster_done, view=_cluster_view),
    "Microsoft.ContainerService/managedClusters/agentPools": Kind(on_put=_agent_pool_put, on_done=_agent_pool_done),
    "Microsoft.DBforPostgreSQL/flexibleServers": Kind(
        accepted=202, on_put=_server_put, on_done=_server_done, on_patch=_server_patch
    ),
    "Microsoft.DBforPostgreSQL/flexibleServers/administrators": Kind(accepted=202, on_put=_administrator_put),
    "Microsoft.Cache/redis": Kind(on_put=_redis_put),
    "Microsoft.Network/privateEndpoints": Kind(on_put=_private_endpoint_put),
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": Kind(on_put=_dns_zone_group_put),
    "Microsoft.Network/privateDnsZones": Kind(),
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": Kind(on_put=_zone_link_put),
    "Microsoft.Storage/storageAccounts": Kind(lro="location", on_put=_account_put),
    "Microsoft.Storage/storageAccounts/blobServices": Kind(lro=None),
    "Microsoft.Storage/storageAccounts/blobServices/containers": Kind(lro=None, on_put=_container_put),
    "Microsoft.Storage/storageAccounts/managementPolicies": Kind(lro=None),
    "Microsoft.Storage/storageAccounts/objectReplicationPolicies": Kind(lro=None, on_put=_replication_put),
    "Microsoft.KeyVault/vaults": Kind(on_put=_vault_put),
    "Microsoft.KeyVault/vaults/keys": Kind(lro=None, create_only=True, on_put=_key_put),
}
# What GET answers for a singleton child nobody has written yet (Azure has them from the start).
DEFAULTS: dict[str, Json] = {
    "Microsoft.Storage/storageAccounts/blobServices": {"properties": {"isVersioningEnabled": False}},
}


# The name rules ARM enforces on a new resource (Microsoft Learn, "Naming rules and restrictions for Azure
# resources", and the specs' path patterns), and the error code each resource provider answers with. Written here
# apart from the driver's own rules (providers/names.py), so a test shows the driver obeys Azure, not itself.
NAME_RULES: dict[str, tuple[str, str]] = {
    # 3-63: lower-case letters, numbers and hyphens; can't start or end with a hyphen. Globally unique.
    "Microsoft.DBforPostgreSQL/flexibleServers": (r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", "InvalidServerName"),
    # 1-63: alphanumerics and hyphens; start and end with an alphanumeric; consecutive hyphens not allowed.
    "Microsoft.Cache/redis": (r"(?!.*--)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?", "InvalidResourceName"),
    # 3-24: lower-case letters and numbers only. Globally unique.
    "Microsoft.Storage/storageAccounts": (r"[a-z0-9]{3,24}", "AccountNameInvalid"),
    # 3-63: lower-case letters, numbers and hyphens; start with a letter or number; no consecutive hyphens.
    "Microsoft.Storage/storageAccounts/blobServices/containers": (
        r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
        "ContainerOperationFailure",
    ),
    # 1-63: alphanumerics, underscores and hyphens; start and end with an alphanumeric.
    "Microsoft.ContainerService/managedClusters": (
        r"[a-zA-Z0-9]|[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]",
        "InvalidParameter",
    ),
    # Linux agent pools: 1-12 lower-case letters and numbers, starting with a lower-case letter.
    "Microsoft.ContainerService/managedClusters/agentPools": (r"[a-z][a-z0-9]{0,11}", "InvalidParameter"),
    # 3-24: alphanumerics and hyphens; start with a letter; end with a letter or digit; no consecutive hyphens.
    "Microsoft.KeyVault/vaults": (r"(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", "VaultNameNotValid"),
    # 2-64: alphanumerics, underscores, periods and hyphens; start alphanumeric; end alphanumeric or underscore.
    "Microsoft.Network/virtualNetworks": (r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}[a-zA-Z0-9_]", "InvalidResourceName"),
}


def refuse_bad_name(resource_type: str, name: str) -> None:
    """Answer 400 with the resource provider's code, as Azure does, when ``name`` breaks its type's rule."""
    rule = NAME_RULES.get(resource_type)
    if rule is not None and not re.fullmatch(rule[0], name):
        raise FakeError(400, rule[1], f"The name '{name}' is not valid for a resource of type {resource_type}.")


def _short(text: str, length: int = 10) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass
class Fault:
    method: str
    resource_type: str
    status: int
    remaining: int
    retry_after: float | None
    when: Callable[[Json], bool] | None
    code: str = ""
    message: str = "injected by the test"


@dataclass
class Operation:
    """A long-running operation on ``resource_id``: in progress for ``polls`` looks (a poll of its status URL or
    a GET of the resource), then finished by ``finish``, or ended ``Failed`` with ``error``."""

    finish: Callable[[], Answer | None]
    style: str = "async"
    polls: int = 1
    result: Answer | None = None
    done: bool = False
    error: Json | None = None  # set: the operation ends "Failed" with this ARM error
    resource_id: str = ""  # lower-cased; empty for deletes, which are not refused over


class FakeAzure:
    """One subscription's resources, blobs, deleted keys and cost rows, and the transport that serves them."""

    def __init__(self, subscription_id: str, tenant_id: str) -> None:
        self.subscription_id, self.tenant_id = subscription_id, tenant_id
        self.resources: dict[str, Json] = {}  # by lower-cased ARM id
        self.groups: dict[str, Json] = {}
        self.blobs: dict[tuple[str, str], dict[str, Json]] = {}  # (account, container) → blob name → blob
        self.deleted_keys: dict[tuple[str, str], Json] = {}
        self.cost_rows: list[Json] = []
        # Cost queries (first pages and nextLink pages alike) answered 204 No Content, as Cost Management does
        # when it has nothing to report yet: how many are left.
        self.cost_no_content = 0
        self.operations: dict[str, Operation] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.poll_sleeps: list[float] = []
        self.token_requests: list[dict[str, str]] = []
        self.failing_operations: dict[str, Json] = {}
        self.page_size = 4
        # How many looks (polls of the operation, GETs of the resource) a write stays in progress for.
        self.lro_polls = 3
        self.activity_log: list[Json] = []
        # Role assignments by name: scope, role definition id and principal id.
        self.role_assignments: dict[str, Json] = {}
        # Locations in a regional outage: their resources answer 503, and a planned promotion from them fails.
        self.down_locations: set[str] = set()
        # Azure Monitor's physical_replication_delay_in_seconds per replica server name (default 1 second).
        self.replica_lag: dict[str, float | None] = {}
        self.promotions: list[Json] = []
        # What ``GET {scope}/providers/Microsoft.Authorization/permissions`` lists for the caller: every token is
        # accepted, so by default one entry granting everything (as Owner); a test narrows it.
        self.permissions: list[Json] = [
            {"actions": ["*"], "notActions": [], "dataActions": ["*"], "notDataActions": []}
        ]
        # What AKS offers new clusters in every location (a test may change it).
        self.kubernetes_versions: list[Json] = [dict(item) for item in AKS_KUBERNETES_VERSIONS]
        self._ids = itertools.count(1)

    def transport(self) -> FakeTransport:
        return FakeTransport(self)

    def now(self) -> datetime:
        return datetime.now(tz=UTC).replace(microsecond=0)

    # ------------------------------------------------------------ test levers

    def fail_next(
        self,
        method: str,
        resource_type: str,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        when: Callable[[Json], bool] | None = None,
        code: str = "",
        message: str = "injected by the test",
    ) -> None:
        """Answer the next ``times`` ``method`` requests on ``resource_type`` (whose body passes ``when``) with
        ``status`` (and the ARM error ``code`` and ``message``, when given)."""
        self.faults.append(Fault(method, resource_type, status, times, retry_after, when, code, message))

    def fail_operation(self, resource_type: str, code: str, message: str) -> None:
        """Let the next long-running PUT of ``resource_type`` be accepted, then end ``Failed`` with this error (the
        resource's provisioningState Failed, the error in the operation's status and in the activity log, and for
        AKS in the resource's ``status.provisioningError``)."""
        self.failing_operations[resource_type] = {"code": code, "message": message}

    def put_blob(self, account: str, container: str, name: str, body: bytes) -> None:
        """Write a blob directly (a new version replaces the current one), as another writer would."""
        if (account, container) not in self.blobs:
            raise KeyError(f"no container {account}/{container}")
        self.blobs[(account, container)][name] = {
            "body": body,
            "etag": f'"0x8D{_short(name + str(next(self._ids)), 13).upper()}"',
            "modified": self.now(),
        }

    def seed_cost(self, day: date, service: str, location: str, tags: dict[str, str], amount: str) -> None:
        """One resource's cost for one day, as Cost Management would aggregate it."""
        self.cost_rows.append({"day": day, "service": service, "location": location, "tags": tags, "amount": amount})

    def add_backup(self, server_id: str, completed: datetime) -> None:
        """A completed automatic backup of the server (what its ``backups`` listing shows)."""
        name = f"backup_{completed.strftime('%Y%m%dT%H%M%S')}"
        self.store(
            f"{server_id}/backups/{name}",
            {"properties": {"backupType": "Full", "completedTime": completed.isoformat(), "source": "Automatic"}},
            "Succeeded",
        )

    def has_role(self, scope: str, role_id: str, principal_id: str = PORTAL_PRINCIPAL) -> bool:
        """Whether ``principal_id`` holds ``role_id`` on ``scope`` or on a scope above it, as Azure RBAC inherits."""
        target = scope.lower()
        return any(
            assignment["principal"] == principal_id
            and assignment["role"] == role_id
            and (target == assignment["scope"].lower() or target.startswith(assignment["scope"].lower() + "/"))
            for assignment in self.role_assignments.values()
        )

    def polls(self) -> int:
        """How many times a poller asked about an operation."""
        return sum(1 for method, url in self.requests if method == "GET" and "/fakeOperations/" in url)

    # ------------------------------------------------------------ resources

    def store(self, resource_id: str, body: Json, state: str) -> Json:
        """Create or update the resource at ``resource_id`` from a PUT body; Azure's own fields filled in."""
        existing = self.resources.get(resource_id.lower())
        resource_type = self.type_of(resource_id)
        resource: Json = existing or {"id": resource_id, "name": resource_id.rsplit("/", 1)[1], "type": resource_type}
        for key in ("location", "tags", "sku", "kind", "identity"):
            if key in body:
                resource[key] = body[key]
        if "location" in resource:
            resource["location"] = resource["location"].replace(" ", "").lower()
        resource["properties"] = {
            **resource.get("properties", {}),
            **json.loads(json.dumps(body.get("properties", {}))),
        }
        resource["properties"]["provisioningState"] = state
        self.resources[resource_id.lower()] = resource
        return resource

    def children(self, parent_id: str, child_type: str) -> list[Json]:
        prefix = f"{parent_id}/{child_type}/".lower()
        return [
            resource
            for key, resource in sorted(self.resources.items())
            if key.startswith(prefix) and "/" not in key[len(prefix) :]
        ]

    def show(self, resource: Json) -> Json:
        return TYPES[resource["type"]].view(self, resource) if resource["type"] in TYPES else resource

    @staticmethod
    def type_of(resource_id: str) -> str:
        """The type of an ARM id: ``…/virtualNetworks/v/subnets/s`` is ``Microsoft.Network/virtualNetworks/subnets``."""
        parts = resource_id.split("/providers/", 1)[1].split("/")
        return "/".join([parts[0], *parts[1::2]])

    # ------------------------------------------------------------ dispatch

    def handle(self, request: Any) -> Answer:
        url = urlparse(request.url)
        self.requests.append((request.method, request.url))
        content = getattr(request, "content", None)
        if content is None:
            content = getattr(request, "body", None)
        body = json.loads(content) if content and url.hostname != "login.microsoftonline.com" else {}
        try:
            if url.hostname == "management.azure.com":
                return self.arm(request.method, unquote(url.path), parse_qs(url.query), body)
            if url.hostname and url.hostname.endswith(".blob.core.windows.net"):
                return self.blob(request, url.hostname.split(".")[0], unquote(url.path), parse_qs(url.query))
            if url.hostname and url.hostname.endswith(".vault.azure.net"):
                return self.vault(request, url.hostname.split(".")[0], unquote(url.path))
            if url.hostname == "login.microsoftonline.com":
                return self.login(request, unquote(url.path), content)
        except FakeError as error:
            return json_answer(error.status, {"error": {"code": error.code, "message": error.message}}, **error.headers)
        return json_answer(400, {"error": {"code": "InvalidHost", "message": f"no fake for {url.hostname}"}})

    def _fault(self, method: str, resource_type: str, body: Json) -> None:
        for fault in self.faults:
            if (fault.method, fault.resource_type) != (method, resource_type) or fault.remaining <= 0:
                continue
            if fault.when is not None and not fault.when(body):
                continue
            fault.remaining -= 1
            code = fault.code or {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(fault.status, "InjectedFault")
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            raise FakeError(fault.status, code, fault.message, headers)

    def arm(self, method: str, path: str, query: dict[str, list[str]], body: Json) -> Answer:
        if "/fakeOperations/" in path:
            return self.poll(path.split("/fakeOperations/", 1)[1])
        if path.endswith("/providers/Microsoft.CostManagement/query"):
            return self.cost_query(path, query, body)
        if path.endswith("/providers/Microsoft.Authorization/permissions"):
            return self.caller_permissions(method, path)
        if path.endswith("/providers/Microsoft.Insights/eventtypes/management/values"):
            return self.activity_events(query)
        if "/providers/Microsoft.Authorization/roleAssignments/" in path:
            return self.role_assignment(method, path, body)
        if path.endswith("/providers/Microsoft.Insights/metrics"):
            return self.metrics(path.removesuffix("/providers/Microsoft.Insights/metrics"), query)
        if re.fullmatch(
            r"(?i)/subscriptions/[^/]+/providers/Microsoft\.ContainerService/locations/[^/]+/kubernetesVersions", path
        ):
            self._fault(method, "Microsoft.ContainerService/locations/kubernetesVersions", body)
            return json_answer(200, {"values": [dict(item) for item in self.kubernetes_versions]})
        if "/providers/" not in path:
            return self.resource_group(method, path, body)
        group = (
            path.split("/")[4]
            if path.lower().startswith(f"/subscriptions/{self.subscription_id}/resourcegroups/")
            else ""
        )
        segments = path.split("/providers/", 1)[1].split("/")
        resource_type = "/".join([segments[0], *segments[1::2]])
        self._fault(method, resource_type, body)
        if len(segments) % 2 == 0:  # …/type (a listing) or …/name/action
            if method == "POST":
                return self.action(path.rsplit("/", 1)[0], segments[-1])
            return self.listing(path, group, resource_type)
        if group and group.lower() not in self.groups:
            raise FakeError(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        kind = TYPES.get(resource_type, Kind(lro=None))
        existing = self.resources.get(path.lower())
        top = self.resources.get("/".join(path.split("/")[:9]).lower())
        if top is not None and top.get("location") in self.down_locations:
            raise FakeError(503, "ServiceUnavailable", f"The region {top['location']} is not available.")
        if method == "GET":
            self.tick(path)
            existing = self.resources.get(path.lower())
            if existing is None and resource_type in DEFAULTS:
                return json_answer(200, self.store(path, DEFAULTS[resource_type], "Succeeded"))
            if existing is None:
                raise FakeError(
                    404,
                    "ResourceNotFound",
                    f"The Resource '{resource_type}/{path.rsplit('/', 1)[1]}' under resource group '{group}' "
                    "was not found.",
                )
            return json_answer(200, self.show(existing))
        if method == "PUT":
            if existing is None:
                refuse_bad_name(resource_type, path.rsplit("/", 1)[1])
            self.refuse_while_busy(path)
            return self.put(path, kind, existing, body)
        if method == "PATCH":
            self.refuse_while_busy(path)
            return self.patch(path, kind, existing, body)
        if method == "DELETE":
            return self.delete(path, kind, existing)
        raise FakeError(405, "MethodNotAllowed", method)

    def role_assignment(self, method: str, path: str, body: Json) -> Answer:
        """``{scope}/providers/Microsoft.Authorization/roleAssignments/{name}``: the name a GUID, the role a
        built-in one, the scope an existing resource; one assignment per scope, role and principal (a second
        under another name is 409 RoleAssignmentExists)."""
        scope, _, name = path.partition("/providers/Microsoft.Authorization/roleAssignments/")
        self._fault(method, "Microsoft.Authorization/roleAssignments", body)
        if method == "GET":
            found = self.role_assignments.get(name.lower())
            if found is None or found["scope"].lower() != scope.lower():
                raise FakeError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
            return json_answer(200, self.assignment_view(name, found))
        if method != "PUT":
            raise FakeError(405, "MethodNotAllowed", method)
        try:
            uuid.UUID(name)
        except ValueError as error:
            raise FakeError(400, "InvalidRoleAssignmentId", f"The role assignment ID '{name}' is not valid.") from error
        properties = body.get("properties") or {}
        role = str(properties.get("roleDefinitionId", "")).rsplit("/", 1)[-1]
        if role not in BUILT_IN_ROLES:
            raise FakeError(400, "RoleDefinitionDoesNotExist", "The specified role definition does not exist.")
        if not properties.get("principalId"):
            raise FakeError(400, "InvalidPrincipalId", "A valid principal ID must be provided.")
        if "/providers/" in scope and scope.lower() not in self.resources:
            raise FakeError(404, "ResourceNotFound", f"The Resource '{scope}' was not found.")
        assignment = {"scope": scope, "role": role, "principal": properties["principalId"]}
        for other_name, other in self.role_assignments.items():
            same = (other["scope"].lower(), other["role"], other["principal"]) == (
                scope.lower(),
                role,
                assignment["principal"],
            )
            if same and other_name != name.lower():
                raise FakeError(409, "RoleAssignmentExists", "The role assignment already exists.")
        self.role_assignments[name.lower()] = assignment
        return json_answer(201, self.assignment_view(name, assignment))

    @staticmethod
    def assignment_view(name: str, assignment: Json) -> Json:
        return {
            "id": f"{assignment['scope']}/providers/Microsoft.Authorization/roleAssignments/{name}",
            "name": name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "scope": assignment["scope"],
                "roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{assignment['role']}",
                "principalId": assignment["principal"],
            },
        }

    def metrics(self, resource_id: str, query: dict[str, list[str]]) -> Answer:
        """Azure Monitor's metrics of a resource: PostgreSQL's physical_replication_delay_in_seconds, which only
        a replica has a value of."""
        resource = self.resources.get(resource_id.lower())
        if resource is None:
            raise FakeError(404, "ResourceNotFound", f"The Resource '{resource_id}' was not found.")
        wanted = query.get("metricnames", [""])[0]
        if resource["type"] != "Microsoft.DBforPostgreSQL/flexibleServers" or wanted != (
            "physical_replication_delay_in_seconds"
        ):
            raise FakeError(400, "BadRequest", f"Failed to find metric configuration for {wanted}.")
        data: list[Json] = []
        lag = self.replica_lag.get(resource["name"], 1.0)
        if resource["properties"].get("replicationRole") == "AsyncReplica" and lag is not None:
            now = self.now()
            data = [
                {"timeStamp": (now - timedelta(minutes=2)).isoformat(), "maximum": lag + 5},
                {"timeStamp": (now - timedelta(minutes=1)).isoformat(), "maximum": lag},
                {"timeStamp": now.isoformat()},  # the minute under way has no value yet
            ]
        return json_answer(
            200,
            {
                "value": [
                    {
                        "name": {"value": wanted},
                        "unit": "Seconds",
                        "timeseries": [{"metadatavalues": [], "data": data}],
                    }
                ]
            },
        )

    def caller_permissions(self, method: str, path: str) -> Answer:
        """Permissions - List For Resource Group (or subscription): the caller's ``actions``/``notActions`` entries.

        Only GET is served; a resource group that does not exist is 404 ``ResourceGroupNotFound``, as in ARM.
        """
        if method != "GET":
            raise FakeError(405, "MethodNotAllowed", method)
        self._fault(method, "Microsoft.Authorization/permissions", {})
        parts = path.split("/")
        if len(parts) > 4 and parts[3].lower() == "resourcegroups" and parts[4].lower() not in self.groups:
            raise FakeError(404, "ResourceGroupNotFound", f"Resource group '{parts[4]}' could not be found.")
        return json_answer(200, {"value": [dict(entry) for entry in self.permissions]})

    def resource_group(self, method: str, path: str, body: Json) -> Answer:
        name = path.rsplit("/", 1)[1]
        if method == "PUT":
            self.groups[name.lower()] = {
                "id": path,
                "name": name,
                "location": body["location"],
                "tags": body.get("tags", {}),
                "properties": {"provisioningState": "Succeeded"},
            }
        if name.lower() not in self.groups:
            raise FakeError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return json_answer(200, self.groups[name.lower()])

    def put(self, path: str, kind: Kind, existing: Json | None, body: Json) -> Answer:
        created = existing is None
        if existing is not None and kind.create_only:  # Key Vault's createIfNotExist leaves a key as it is
            return json_answer(200, self.show(existing))
        resource = self.store(path, body, "Succeeded" if kind.lro is None else ("Creating" if created else "Updating"))
        try:
            kind.on_put(self, resource, body)
        except FakeError:
            if created:
                self.resources.pop(path.lower(), None)
            raise
        path = resource["id"]  # a PUT may be answered under another name (object replication's "default")

        def finish() -> Answer:
            resource["properties"]["provisioningState"] = "Succeeded"
            kind.on_done(self, resource)
            return json_answer(200, self.show(resource))

        if kind.lro is None:  # synchronous ARM writes answer 200 whether they created or updated
            kind.on_done(self, resource)
            return json_answer(200, self.show(resource))
        operation = self.start(finish, kind.lro, resource_id=path)
        failure = self.failing_operations.pop(resource["type"], None)
        if failure is not None:
            self.operations[operation.rsplit("/", 1)[1].split("?")[0]].error = failure
        if kind.lro == "location":
            return Answer(202, b"", {"Location": operation, "Retry-After": "0"})
        status = kind.accepted if created else 200
        return json_answer(status, self.show(resource), **{"Azure-AsyncOperation": operation})

    def patch(self, path: str, kind: Kind, existing: Json | None, body: Json) -> Answer:
        """An update of some fields: 404 for a missing resource; otherwise merged, then the type's own effects."""
        if existing is None:
            raise FakeError(404, "ResourceNotFound", f"The Resource '{path.rsplit('/', 1)[1]}' was not found.")
        kind.on_patch(self, existing, body)
        resource = self.store(path, body, "Updating" if kind.lro else "Succeeded")

        def finish() -> Answer:
            resource["properties"]["provisioningState"] = "Succeeded"
            kind.on_done(self, resource)
            return json_answer(200, self.show(resource))

        if kind.lro is None:
            return json_answer(200, self.show(resource))
        operation = self.start(finish, resource_id=path)
        return Answer(202, b"", {"Azure-AsyncOperation": operation, "Location": operation.replace("?", "/location?")})

    def delete(self, path: str, kind: Kind, existing: Json | None) -> Answer:
        if existing is None:
            return Answer(204)
        if existing["type"] == "Microsoft.Network/virtualNetworks":
            _vnet_delete_check(self, existing)

        def finish() -> None:
            for doomed in [key for key in self.resources if key == path.lower() or key.startswith(path.lower() + "/")]:
                del self.resources[doomed]
            if existing["type"] == "Microsoft.Storage/storageAccounts":
                for container in [key for key in self.blobs if key[0] == existing["name"]]:
                    del self.blobs[container]

        def finish_later() -> Answer | None:
            finish()
            return None

        if kind.lro != "async":  # storage accounts are deleted at once, though created through Location
            finish()
            return Answer(200)
        # ARM's asynchronous delete: 202 Accepted with Azure-AsyncOperation and Location; the resource is still
        # there (Deleting) until the operation ends, and GETs of it meanwhile count as looks at the operation.
        existing["properties"]["provisioningState"] = "Deleting"
        if existing["type"] == "Microsoft.DBforPostgreSQL/flexibleServers":
            existing["properties"]["state"] = "Dropping"
        operation = self.start(finish_later, resource_id=path)
        return Answer(
            202,
            b"",
            {
                "Azure-AsyncOperation": operation,
                "Location": operation.replace("?", "/location?"),
                "Retry-After": "0",
            },
        )

    def start(self, finish: Callable[[], Answer | None], style: str = "async", resource_id: str = "") -> str:
        operation_id = f"op-{next(self._ids)}"
        self.operations[operation_id] = Operation(finish, style, polls=self.lro_polls, resource_id=resource_id.lower())
        operations = f"{ARM}/subscriptions/{self.subscription_id}/providers/Microsoft.Fake/fakeOperations"
        return f"{operations}/{operation_id}?api-version=2024-01-01"

    def running(self) -> list[tuple[str, Operation]]:
        """The writes still in progress, by operation id."""
        return [(key, operation) for key, operation in self.operations.items() if not operation.done]

    def refuse_while_busy(self, path: str) -> None:
        """ARM serialises writes: a PUT or PATCH on a resource, its parent or a child of one being written is
        refused with 409 AnotherOperationInProgress (AKS words it as OperationNotAllowed; the code is ARM's)."""
        target = path.lower()
        for _, operation in self.running():
            busy = operation.resource_id
            if busy and (target == busy or target.startswith(busy + "/") or busy.startswith(target + "/")):
                raise FakeError(
                    409,
                    "AnotherOperationInProgress",
                    f"Another operation on this or dependent resource is in progress. To retry later, wait for "
                    f"the operation on {busy.rsplit('/', 1)[1]} to finish.",
                )

    def tick(self, path: str) -> None:
        """A GET of a resource is a look at the writes on it (or on what is under it): each one counts down."""
        target = path.lower()
        for operation_id, operation in self.running():
            busy = operation.resource_id
            if busy and (busy == target or busy.startswith(target + "/")):
                self.advance(operation_id)

    def advance(self, operation_id: str) -> None:
        """One look at an operation: it ends once it has been looked at ``polls`` times."""
        operation = self.operations[operation_id]
        if operation.done:
            return
        if operation.polls > 0:
            operation.polls -= 1
            return
        operation.done = True
        if operation.error is None:
            operation.result = operation.finish()
            return
        resource = self.resources.get(operation.resource_id)
        if resource is not None:
            resource["properties"]["provisioningState"] = "Failed"
            if resource["type"].startswith("Microsoft.ContainerService/"):
                resource["properties"]["status"] = {"provisioningError": operation.error}
            self.activity_log.append(
                {
                    "resourceId": resource["id"],
                    "eventTimestamp": self.now().isoformat(),
                    "operationName": {"value": f"{resource['type']}/write"},
                    "status": {"value": "Failed"},
                    "properties": {
                        "statusCode": "Conflict",
                        "statusMessage": json.dumps({"status": "Failed", "error": operation.error}),
                    },
                }
            )

    def poll(self, operation_id: str) -> Answer:
        """``Azure-AsyncOperation``: a status document; ``Location``: 202 until done, then the result."""
        location = operation_id.endswith("/location")
        operation_id = operation_id.removesuffix("/location")
        operation = self.operations[operation_id]
        self.advance(operation_id)
        if not operation.done:
            if location or operation.style == "location":
                return Answer(202, b"", {"Retry-After": "0"})
            return json_answer(200, {"id": operation_id, "status": "InProgress"})
        if operation.error is not None:
            return json_answer(200, {"id": operation_id, "status": "Failed", "error": operation.error})
        if location or operation.style == "location":
            return operation.result or Answer(204)
        return json_answer(200, {"id": operation_id, "status": "Succeeded"})

    def activity_events(self, query: dict[str, list[str]]) -> Answer:
        """The activity log (``Microsoft.Insights/eventtypes/management/values``), filtered by ``resourceUri``."""
        wanted = re.search(r"resourceUri eq '([^']+)'", query.get("$filter", [""])[0])
        events = [
            event for event in self.activity_log if wanted is None or event["resourceId"].lower() == wanted[1].lower()
        ]
        return json_answer(200, {"value": events})

    def listing(self, path: str, group: str, resource_type: str) -> Answer:
        parent = path.rsplit("/", 1)[0]
        parent_type = resource_type.rsplit("/", 1)[0]
        if "/" in parent_type and parent.lower() not in self.resources and parent_type not in DEFAULTS:
            raise FakeError(404, "ResourceNotFound", f"The Resource '{parent}' was not found.")
        if resource_type == "Microsoft.DBforPostgreSQL/flexibleServers/replicas":
            source = parent.lower()
            found = [
                r
                for r in self.resources.values()
                if r["properties"].get("sourceServerResourceId", "").lower() == source
            ]
        elif group:
            found = [
                r
                for key, r in sorted(self.resources.items())
                if key.startswith(path.lower() + "/") and key.count("/") == path.count("/") + 1
            ]
        else:  # subscription-wide: every resource of the type
            found = [r for _, r in sorted(self.resources.items()) if r["type"] == resource_type]
        for resource in found:  # a listing looks at each resource it shows
            self.tick(resource["id"])
        return json_answer(200, {"value": [self.show(resource) for resource in found]})

    def action(self, path: str, action: str) -> Answer:
        resource = self.resources.get(path.lower())
        if resource is None:
            raise FakeError(404, "ResourceNotFound", f"The Resource '{path}' was not found.")
        if action != "listClusterUserCredential":
            raise FakeError(400, "UnsupportedAction", action)
        kubeconfig = (
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
            f"    certificate-authority-data: {base64.b64encode(b'fake-aks-ca').decode()}\n"
            f"    server: https://{resource['properties']['fqdn']}:443\n  name: {resource['name']}\n"
        )
        return json_answer(
            200, {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(kubeconfig.encode()).decode()}]}
        )

    # ------------------------------------------------------------ Cost Management

    def cost_query(self, path: str, query: dict[str, list[str]], body: Json) -> Answer:
        self._fault("POST", "Microsoft.CostManagement/query", body)
        if self.cost_no_content > 0:
            self.cost_no_content -= 1
            return Answer(204)
        dataset = body["dataset"]
        groupings = dataset.get("grouping", [])
        if len(groupings) > 2:
            raise FakeError(400, "BadRequest", "Invalid query definition: a query can group by at most 2 columns.")
        start = date.fromisoformat(body["timePeriod"]["from"][:10])
        end = date.fromisoformat(body["timePeriod"]["to"][:10])
        columns: list[Json] = [{"name": "Cost", "type": "Number"}, {"name": "UsageDate", "type": "Number"}]
        for grouping in groupings:
            if grouping["type"] == "TagKey":
                columns += [{"name": "TagKey", "type": "String"}, {"name": "TagValue", "type": "String"}]
            else:
                columns.append({"name": grouping["name"], "type": "String"})
        columns.append({"name": "Currency", "type": "String"})
        totals: dict[tuple[Any, ...], float] = {}
        for row in self.cost_rows:
            if not start <= row["day"] <= end:
                continue
            key: list[Any] = [int(row["day"].strftime("%Y%m%d"))]
            for grouping in groupings:
                if grouping["type"] == "TagKey":
                    value = row["tags"].get(grouping["name"])
                    key += [grouping["name"] if value is not None else "", value or ""]
                else:
                    key.append({"ServiceName": row["service"], "ResourceLocation": row["location"]}[grouping["name"]])
            totals[tuple(key)] = totals.get(tuple(key), 0.0) + float(row["amount"])
        rows = [[round(amount, 10), *key, "USD"] for key, amount in sorted(totals.items())]
        offset = int(query.get("$skiptoken", ["0"])[0])
        page = rows[offset : offset + self.page_size]
        next_link = None
        if offset + self.page_size < len(rows):
            next_link = f"{ARM}{path}?api-version={query['api-version'][0]}&$skiptoken={offset + self.page_size}"
        return json_answer(
            200,
            {
                "id": f"{path}/fake",
                "name": "fake",
                "type": "Microsoft.CostManagement/query",
                "properties": {"nextLink": next_link, "columns": columns, "rows": page},
            },
        )

    # ------------------------------------------------------------ blob data plane

    def blob(self, request: Any, account: str, path: str, query: dict[str, list[str]]) -> Answer:
        container, _, name = path.lstrip("/").partition("/")
        blobs = self.blobs.get((account, container))
        if blobs is None:
            return self.storage_error(404, "ContainerNotFound", "The specified container does not exist.")
        if not name and query.get("comp") == ["list"]:
            return self.list_blobs(account, container, blobs, query)
        if name in blobs and request.method in ("GET", "HEAD"):
            return self.download(request, blobs[name])
        return self.storage_error(404, "BlobNotFound", "The specified blob does not exist.")

    def list_blobs(self, account: str, container: str, blobs: dict[str, Json], query: dict[str, list[str]]) -> Answer:
        prefix = query.get("prefix", [""])[0]
        marker = query.get("marker", [""])[0]
        names = [name for name in sorted(blobs) if name.startswith(prefix) and name > marker]
        page, rest = names[: self.page_size // 2], names[self.page_size // 2 :]
        items = "".join(
            f"<Blob><Name>{escape(name)}</Name><Properties>"
            f"<Last-Modified>{format_datetime(blobs[name]['modified'], usegmt=True)}</Last-Modified>"
            f"<Etag>{blobs[name]['etag']}</Etag><Content-Length>{len(blobs[name]['body'])}</Content-Length>"
            "<Content-Type>application/octet-stream</Content-Type><BlobType>BlockBlob</BlobType>"
            "</Properties></Blob>"
            for name in page
        )
        next_marker = f"<NextMarker>{escape(page[-1])}</NextMarker>" if rest else "<NextMarker />"
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="https://{account}.blob.core.windows.net/" '
            f'ContainerName="{container}">'
            f"<Prefix>{escape(prefix)}</Prefix><Blobs>{items}</Blobs>{next_marker}</EnumerationResults>"
        )
        return Answer(200, xml.encode(), {"Content-Type": "application/xml"})

    def download(self, request: Any, blob: Json) -> Answer:
        body: bytes = blob["body"]
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": blob["etag"],
            "Last-Modified": format_datetime(blob["modified"], usegmt=True),
            "x-ms-blob-type": "BlockBlob",
        }
        wanted = request.headers.get("x-ms-range") or request.headers.get("Range")
        if wanted:
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            chunk = body[int(first) : int(last) + 1 if last else None]
            end = int(first) + len(chunk) - 1
            headers["Content-Range"] = f"bytes {first}-{end}/{len(body)}"
            headers["Content-Length"] = str(len(chunk))
            return Answer(206, chunk, headers)
        headers["Content-Length"] = str(len(body))
        return Answer(200, body, headers)

    @staticmethod
    def storage_error(status: int, code: str, message: str) -> Answer:
        xml = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
        return Answer(status, xml.encode(), {"Content-Type": "application/xml", "x-ms-error-code": code})

    # ------------------------------------------------------------ Microsoft Entra ID

    def login(self, request: Any, path: str, content: Any) -> Answer:
        """Entra ID's OpenID metadata and token endpoint, enough for azure-identity's client-secret flow."""
        authority = f"https://login.microsoftonline.com/{self.tenant_id}"
        if path.endswith("/.well-known/openid-configuration"):
            return json_answer(
                200,
                {
                    "token_endpoint": f"{authority}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
                    "issuer": f"{authority}/v2.0",
                },
            )
        if path.endswith("/discovery/instance"):
            discovery = f"{authority}/v2.0/.well-known/openid-configuration"
            return json_answer(200, {"tenant_discovery_endpoint": discovery, "metadata": []})
        if path.endswith("/oauth2/v2.0/token") and request.method == "POST":
            form = content if isinstance(content, dict) else {}  # azure-identity hands the form over as a dict
            self.token_requests.append({key: str(value) for key, value in form.items()})
            scope = str(form.get("scope", ""))
            token = FakeCredential(self.tenant_id).get_token(scope).token
            return json_answer(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})
        raise FakeError(404, "NotFound", path)

    # ------------------------------------------------------------ Key Vault data plane

    def vault(self, request: Any, vault_name: str, path: str) -> Answer:
        if "authorization" not in {key.lower() for key in request.headers}:
            challenge = f'Bearer authorization="https://login.microsoftonline.com/{self.tenant_id}", resource="https://vault.azure.net"'
            return json_answer(
                401, {"error": {"code": "Unauthorized", "message": "AKV10000"}}, **{"WWW-Authenticate": challenge}
            )
        collection, _, name = path.strip("/").partition("/")
        vault_url = f"https://{vault_name}.vault.azure.net/"
        vault_resource = next(
            (
                r
                for r in self.resources.values()
                if r["type"] == "Microsoft.KeyVault/vaults" and r["name"] == vault_name
            ),
            None,
        )
        principal = self.principal_of(request)
        if (
            vault_resource is not None
            and vault_resource["properties"].get("enableRbacAuthorization")
            and request.method == "DELETE"
            and not self.has_role(vault_resource["id"], KEY_VAULT_CRYPTO_OFFICER, principal)
        ):
            # A vault using Azure RBAC answers its data plane only to role assignments on it.
            raise FakeError(
                403,
                "Forbidden",
                f"Caller is not authorized to perform action on resource. Caller: oid={principal}. "
                "Action: 'Microsoft.KeyVault/vaults/keys/delete'. (ForbiddenByRbac)",
            )
        if request.method == "DELETE" and collection == "keys":
            key = next(
                (
                    r
                    for r in self.resources.values()
                    if r["type"] == "Microsoft.KeyVault/vaults/keys"
                    and r["properties"]["keyUri"] == f"{vault_url}keys/{name}"
                ),
                None,
            )
            if key is None:
                raise FakeError(404, "KeyNotFound", f"A key with (name/id) {name} was not found in this key vault.")
            del self.resources[key["id"].lower()]
            self.deleted_keys[(vault_name, name)] = self.deleted_key(vault_url, name, key)
            return json_answer(200, self.deleted_keys[(vault_name, name)])
        if request.method == "GET" and collection == "deletedkeys" and (vault_name, name) in self.deleted_keys:
            return json_answer(200, self.deleted_keys[(vault_name, name)])
        raise FakeError(404, "KeyNotFound", f"A key with (name/id) {name} was not found in this key vault.")

    @staticmethod
    def principal_of(request: Any) -> str:
        """The ``oid`` of the bearer token a request carries ("" without one)."""
        header = next((value for key, value in request.headers.items() if key.lower() == "authorization"), "")
        token = header.removeprefix("Bearer ").strip()
        payload = token.split(".")[1] if token.count(".") == 2 else ""
        try:
            return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("oid", ""))
        except ValueError:
            return ""

    def deleted_key(self, vault_url: str, name: str, key: Json) -> Json:
        now = int(self.now().timestamp())
        return {
            "recoveryId": f"{vault_url}deletedkeys/{name}",
            "deletedDate": now,
            "scheduledPurgeDate": now + 90 * 86400,
            "key": {
                "kid": key["properties"]["keyUriWithVersion"],
                "kty": "RSA",
                "key_ops": key["properties"].get("keyOps", []),
            },
            "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable"},
            "tags": key.get("tags", {}),
        }
