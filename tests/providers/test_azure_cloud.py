"""What only the Azure driver does: credentials, error translation, polling, Azure's names and limits.

The driver talks to the in-memory Azure of ``azure_fake`` through azure-core's
transport, as in the contract suite.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.core.rest import HttpRequest
from azure.identity import (
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from portal.logging import RedactSecrets
from providers import errors
from providers.azure.cloud import (
    AKS_RBAC_CLUSTER_ADMIN,
    AKS_SERVER_SCOPE,
    KEY_VAULT_CRYPTO_OFFICER,
    AzureCloudDriver,
    build_azure_driver,
    container_name,
    key_vault_name,
    role_assignment_name,
    storage_account_name,
)
from providers.azure.credentials import credential_for
from providers.azure.errors import retry_after, translate
from providers.cloud import (
    BucketSpec,
    CacheSpec,
    DatabaseSpec,
    KeySpec,
    KubernetesClusterSpec,
    NetworkSpec,
    NodePoolSpec,
    Placement,
)
from providers.retry import RetryPolicy
from tests.providers.azure_fake import (
    PORTAL_PRINCIPAL,
    Answer,
    FakeAzure,
    FakeCredential,
    FakeResponse,
    json_answer,
)
from tests.providers.conftest_cloud import (
    AZURE_LOCATION,
    AZURE_RESOURCE_GROUP,
    AZURE_SUBSCRIPTION,
    AZURE_TENANT,
    CloudHarness,
    azure_harness,
    gone,
    settled,
)

SECRET = "Qx7~app-registration-secret-value"
NETWORK = NetworkSpec(
    name="env-7-network",
    cidr="10.7.0.0/16",
    availability_zones=("1", "3"),
    public_subnet_cidrs=("10.7.0.0/24", "10.7.1.0/24"),
    private_subnet_cidrs=("10.7.10.0/24", "10.7.11.0/24"),
    tags={"portal:environment": "7"},
)


DATABASE = DatabaseSpec(
    name="env-7-db",
    engine_version="16.3",
    instance_class="Standard_D2ds_v5",
    storage_gb=64,
    backup_retention_days=35,
    replica_region="germanywestcentral",
)


@pytest.fixture
def cloud() -> CloudHarness:
    return azure_harness()


def fake_of(cloud: CloudHarness) -> FakeAzure:
    fake: FakeAzure = cloud.backend
    return fake


def resources_of(fake: FakeAzure, resource_type: str) -> dict[str, dict]:
    return {resource["name"]: resource for resource in fake.resources.values() if resource["type"] == resource_type}


def http_error(status: int, body: dict | None = None, **headers: str) -> HttpResponseError:
    request = HttpRequest("PUT", "https://management.azure.com/subscriptions/s/resourceGroups/g")
    answer = json_answer(status, body or {}, **headers) if body is not None else Answer(status, b"", headers)
    return HttpResponseError(response=FakeResponse(request, answer))


# ---------------------------------------------------------------- credentials


def test_a_client_secret_account_gets_a_client_secret_credential() -> None:
    credential = credential_for("azure_client_secret", AZURE_TENANT, "app-id", SECRET)

    assert isinstance(credential, ClientSecretCredential)


def test_workload_identity_reads_the_projected_token_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("federated-token")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))

    credential = credential_for("azure_workload_identity", AZURE_TENANT, "app-id", "")

    assert isinstance(credential, WorkloadIdentityCredential)


def test_a_managed_identity_is_the_user_assigned_one_when_a_client_id_is_given() -> None:
    user_assigned = credential_for("azure_managed_identity", "", "mi-client-id", "")
    system_assigned = credential_for("azure_managed_identity", "", "", "")

    assert isinstance(user_assigned, ManagedIdentityCredential)
    assert isinstance(system_assigned, ManagedIdentityCredential)
    assert "mi-client-id" in repr(vars(user_assigned._credential))
    assert "mi-client-id" not in repr(vars(system_assigned._credential))


@pytest.mark.parametrize("auth_method", ["", "azure_default", "aws_assume_role"])
def test_any_other_auth_method_means_the_default_credential_chain(auth_method: str) -> None:
    assert isinstance(credential_for(auth_method, AZURE_TENANT, "", ""), DefaultAzureCredential)


def test_the_driver_factory_puts_the_location_into_the_default_resource_group() -> None:
    driver = build_azure_driver(
        auth_method="azure_client_secret",
        tenant_id=AZURE_TENANT,
        client_id="app-id",
        client_secret=SECRET,
        subscription_id=AZURE_SUBSCRIPTION,
        location="australiaeast",
    )
    named = build_azure_driver(
        auth_method="azure_managed_identity",
        tenant_id=AZURE_TENANT,
        client_id="",
        client_secret="",
        subscription_id=AZURE_SUBSCRIPTION,
        location="australiaeast",
        resource_group="shared-au",
    )

    assert (driver.location, driver.resource_group) == ("australiaeast", "platform-portal-australiaeast")
    assert isinstance(driver.credential, ClientSecretCredential)
    assert named.resource_group == "shared-au"
    assert SECRET not in repr(driver)


def test_the_client_secret_never_reaches_the_logs_even_at_debug_level(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeAzure(AZURE_SUBSCRIPTION, AZURE_TENANT)
    credential = credential_for("azure_client_secret", AZURE_TENANT, "app-id", SECRET, transport=fake.transport())
    driver = AzureCloudDriver(
        credential,
        AZURE_SUBSCRIPTION,
        location=AZURE_LOCATION,
        resource_group=AZURE_RESOURCE_GROUP,
        transport=fake.transport(),
        polling_interval=0,
    )
    caplog.set_level(logging.DEBUG)

    driver.ensure_key(KeySpec(alias="env-7"))
    with pytest.raises(errors.NotFound):
        driver.describe_network("missing")

    assert fake.token_requests[0]["client_secret"] == SECRET  # it was used, through the fake Entra ID
    logged = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "login.microsoftonline.com" in logged  # azure-identity and azure-core did log at this level
    assert SECRET not in logged
    assert SECRET not in repr(driver)
    assert SECRET not in repr(vars(driver))


def test_the_portal_log_filter_would_redact_the_secret_of_a_token_request_anyway() -> None:
    record = logging.LogRecord(
        "azure", logging.DEBUG, __file__, 1, "POST body: client_id=app&client_secret=%s", (SECRET,), None
    )

    RedactSecrets().filter(record)

    assert SECRET not in record.getMessage()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "ResourceNotFound", errors.NotFound),
        (404, "ResourceGroupNotFound", errors.NotFound),
        (409, "AnotherOperationInProgress", errors.Busy),
        (409, "StorageAccountAlreadyTaken", errors.NameTaken),
        (401, "InvalidAuthenticationToken", errors.PermissionDenied),
        (403, "AuthorizationFailed", errors.PermissionDenied),
        (400, "QuotaExceeded", errors.QuotaExceeded),
        (409, "OperationNotAllowed", errors.Conflict),
        (400, "InvalidParameter", errors.InvalidRequest),
        (500, "InternalServerError", errors.Unavailable),
        (503, "ServiceUnavailable", errors.Unavailable),
        (429, "TooManyRequests", errors.Throttled),
    ],
)
def test_arm_errors_become_the_typed_errors(status: int, code: str, expected: type[errors.ProviderError]) -> None:
    error = http_error(status, {"error": {"code": code, "message": "from Azure"}})

    translated = translate(error, "env-7")

    assert type(translated) is expected
    assert translated.resource == "env-7"
    assert code in translated.message


def test_a_quota_refusal_told_as_operation_not_allowed_is_quota_exceeded() -> None:
    error = http_error(
        409, {"error": {"code": "OperationNotAllowed", "message": "Operation could exceed approved standardDv5 quota"}}
    )

    assert isinstance(translate(error), errors.QuotaExceeded)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "OperationNotAllowed",
            "Operation is not allowed: Another operation (Updating) is in progress, please wait for it to finish "
            "before starting a new operation. See https://aka.ms/aks-pending-operation for more details",
        ),
        (
            "Conflict",
            "The resource '/subscriptions/s/resourceGroups/g/providers/Microsoft.Cache/Redis/env-7-redis' is busy "
            "processing a previous update request or is undergoing system maintenance. Please try again later.",
        ),
    ],
)
def test_a_refusal_that_says_another_operation_is_running_is_busy(code: str, message: str) -> None:
    translated = translate(http_error(409, {"error": {"code": code, "message": message}}))

    assert isinstance(translated, errors.Busy)
    assert translated.retryable


def test_a_resource_busy_with_another_operation_is_busy_and_not_retried_on_the_spot(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    fake.fail_next(
        "PUT",
        "Microsoft.Cache/redis",
        409,
        code="AnotherOperationInProgress",
        message="Another operation on this or dependent resource is in progress.",
    )

    with pytest.raises(errors.Busy) as raised:
        cloud.driver.ensure_cache(CacheSpec(name="env-7-redis", node_type="Standard_C1"))

    assert "AnotherOperationInProgress" in raised.value.message
    assert [method for method, url in fake.requests if "/redis/env-7-redis" in url] == ["GET", "PUT"]


def test_a_blob_error_code_is_read_from_its_header() -> None:
    error = http_error(404, None, **{"x-ms-error-code": "BlobNotFound"})

    translated = translate(error)

    assert isinstance(translated, errors.NotFound)
    assert "BlobNotFound" in translated.message


def test_connection_and_credential_failures_are_unavailable_and_permission_denied() -> None:
    assert isinstance(translate(ServiceRequestError("connection reset")), errors.Unavailable)
    assert isinstance(
        translate(ClientAuthenticationError("AADSTS7000215: Invalid client secret")), errors.PermissionDenied
    )


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        ({"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "12"}, 12.0),
        ({"Retry-After": "2", "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": "30"}, 30.0),
        ({"Retry-After": "Fri, 27 Nov 2026 10:00:20 GMT"}, 20.0),
        ({"x-ms-ratelimit-remaining-subscription-reads": "11999"}, None),
        ({}, None),
    ],
)
def test_throttling_hints_are_read_from_every_header_azure_uses(headers: dict[str, str], seconds: float | None) -> None:
    now = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)

    assert retry_after(headers, now=now) == seconds


def test_a_throttled_answer_carries_its_retry_after_into_the_error() -> None:
    error = http_error(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, **{"Retry-After": "9"})

    translated = translate(error)

    assert isinstance(translated, errors.Throttled)
    assert translated.retry_after == 9.0


def test_the_driver_waits_as_long_as_azure_asks_and_gives_up_with_the_hint(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    sleeps: list[float] = []
    driver = AzureCloudDriver(
        cloud.driver.credential,
        AZURE_SUBSCRIPTION,
        location=AZURE_LOCATION,
        resource_group=AZURE_RESOURCE_GROUP,
        transport=fake.transport(),
        retry_policy=RetryPolicy(attempts=2, base_seconds=0, cap_seconds=60),
        sleep=sleeps.append,
        polling_interval=0,
    )
    fake.fail_next("PUT", "Microsoft.Network/virtualNetworks", 429, times=5, retry_after=7)

    with pytest.raises(errors.Throttled) as raised:
        driver.ensure_network(NETWORK)

    assert sleeps == [7.0]
    assert raised.value.retry_after == 7.0


def test_azure_cores_own_retries_are_off_so_one_try_is_one_request(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    single = AzureCloudDriver(
        cloud.driver.credential,
        AZURE_SUBSCRIPTION,
        location=AZURE_LOCATION,
        resource_group=AZURE_RESOURCE_GROUP,
        transport=fake.transport(),
        retry_policy=RetryPolicy(attempts=1),
        polling_interval=0,
    )
    fake.fail_next("PUT", "Microsoft.Cache/redis", 503, times=1)

    with pytest.raises(errors.Unavailable):
        single.ensure_cache(CacheSpec(name="env-7-redis", node_type="Standard_C1"))

    assert [method for method, url in fake.requests if "/redis/env-7-redis" in url] == ["GET", "PUT"]


# ---------------------------------------------------------------- long-running operations


def writes_to(fake: FakeAzure, method: str, fragment: str) -> int:
    """How many ``method`` requests went to a URL whose path ends with ``fragment``."""
    return sum(1 for sent, url in fake.requests if sent == method and url.split("?")[0].endswith(fragment))


GENERAL = NodePoolSpec(
    name="general", kind="general", instance_type="Standard_D4s_v5", min_size=1, max_size=3, desired_size=1
)


def test_creating_a_cluster_returns_at_once_and_completes_over_several_looks_with_one_put(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    network = cloud.driver.ensure_network(NETWORK)
    spec = KubernetesClusterSpec(
        name="env-7", version="1.34", subnet_ids=(network.subnets[2].id,), node_pools=(GENERAL,)
    )

    first = cloud.driver.ensure_kubernetes_cluster(spec)
    looks = [first.status]
    while looks[-1] != "available":
        assert len(looks) < 10, looks
        looks.append(cloud.driver.ensure_kubernetes_cluster(spec).status)

    assert looks[:2] == ["creating", "creating"]  # the first call returned while Azure was still building it
    assert writes_to(fake, "PUT", "/managedClusters/env-7") == 1
    assert fake.polls() == 0  # the resource's own provisioningState was read, no poller waited on the operation
    assert cloud.sleeps == []


def test_a_failed_look_at_a_cache_being_created_never_sends_its_put_again(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    spec = CacheSpec(name="env-7-redis", node_type="Standard_C1", replicas=1)
    assert cloud.driver.ensure_cache(spec).status == "creating"
    fake.fail_next("GET", "Microsoft.Cache/redis", 503, times=3)

    with pytest.raises(errors.Unavailable):
        cloud.driver.ensure_cache(spec)  # the worker's look fails; the step is tried again later
    cache = settled(lambda: cloud.driver.ensure_cache(spec))

    assert cache.status == "available"
    assert writes_to(fake, "PUT", "/redis/env-7-redis") == 1


def test_azure_refuses_a_second_write_while_one_is_in_progress_and_the_driver_waits_as_busy(
    cloud: CloudHarness,
) -> None:
    fake = fake_of(cloud)
    network = cloud.driver.ensure_network(NETWORK)
    spec = KubernetesClusterSpec(
        name="env-7", version="1.34", subnet_ids=(network.subnets[2].id,), node_pools=(GENERAL,)
    )
    cloud.driver.ensure_kubernetes_cluster(spec)
    batch = NodePoolSpec(
        name="batch", kind="high-cpu", instance_type="Standard_F8s_v2", min_size=0, max_size=2, desired_size=0
    )

    with pytest.raises(errors.Busy, match="AnotherOperationInProgress"):
        cloud.driver.ensure_node_pool("env-7", batch)  # its own step, while the cluster is still being created

    assert resources_of(fake, "Microsoft.ContainerService/managedClusters/agentPools").keys() == {"general"}
    settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))
    pool = cloud.driver.ensure_node_pool("env-7", batch)
    assert pool.status == "creating"


def test_a_cluster_that_azure_fails_to_build_fails_with_azures_reason_and_no_new_put(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    network = cloud.driver.ensure_network(NETWORK)
    fake.fail_operation(
        "Microsoft.ContainerService/managedClusters",
        "VMExtensionProvisioningError",
        "One or more nodes could not join the cluster: outbound connectivity is blocked.",
    )
    spec = KubernetesClusterSpec(
        name="env-7", version="1.34", subnet_ids=(network.subnets[2].id,), node_pools=(GENERAL,)
    )

    with pytest.raises(errors.ProvisioningFailed) as raised:
        settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))

    message = raised.value.message
    assert "AKS cluster env-7" in message
    assert "provisioning state Failed" in message
    assert "outbound connectivity is blocked" in message
    assert not raised.value.retryable
    assert writes_to(fake, "PUT", "/managedClusters/env-7") == 1


def test_a_cache_whose_creation_fails_quotes_the_activity_log_and_a_quota_is_a_quota(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    fake.fail_operation("Microsoft.Cache/redis", "QuotaExceeded", "Premium caches in westeurope: limit 0")
    fake.fail_operation("Microsoft.Network/virtualNetworks", "InternalServerError", "provisioning failed")

    with pytest.raises(errors.QuotaExceeded, match="limit 0") as quota:
        settled(lambda: cloud.driver.ensure_cache(CacheSpec(name="env-7-redis", node_type="Premium_P1")))
    with pytest.raises(errors.ProvisioningFailed, match="provisioning failed") as raised:
        cloud.driver.ensure_network(NETWORK)

    assert "Redis cache env-7-redis" in quota.value.message
    assert "virtual network env-7-network" in raised.value.message
    assert not raised.value.retryable  # Azure finished the operation; trying the same again is the caller's call
    assert cloud.sleeps == []
    assert resources_of(fake, "Microsoft.Cache/redis")["env-7-redis"]["properties"]["provisioningState"] == "Failed"


def test_a_failed_resource_without_a_reason_anywhere_still_says_which_and_where_to_look(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    fake.fail_operation("Microsoft.Cache/redis", "InternalServerError", "boom")
    spec = CacheSpec(name="env-7-redis", node_type="Standard_C1", replicas=1)
    with pytest.raises(errors.ProvisioningFailed):
        settled(lambda: cloud.driver.ensure_cache(spec))
    fake.activity_log.clear()  # older than the activity log keeps, say

    with pytest.raises(errors.ProvisioningFailed) as raised:
        cloud.driver.ensure_cache(spec)

    assert "Redis cache env-7-redis" in raised.value.message
    assert "activity log" in raised.value.message
    assert writes_to(fake, "PUT", "/redis/env-7-redis") == 1


def test_the_resource_group_is_created_in_the_drivers_location_on_the_first_create(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    with pytest.raises(errors.NotFound):
        cloud.driver.describe_network(NETWORK.name)
    assert fake.groups == {}

    cloud.driver.ensure_network(NETWORK)

    assert fake.groups[AZURE_RESOURCE_GROUP.lower()]["location"] == AZURE_LOCATION


# ---------------------------------------------------------------- Azure's shapes


def test_subnets_keep_their_zone_in_their_name_and_private_ones_use_the_nat_gateway(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)

    network = cloud.driver.ensure_network(NETWORK)

    subnets = resources_of(fake, "Microsoft.Network/virtualNetworks/subnets")
    assert sorted(subnets) == ["private-0-zone-1", "private-1-zone-3", "public-0-zone-1", "public-1-zone-3"]
    nat_id = network.nat_gateway_ids[0]
    assert {name: (subnet["properties"].get("natGateway") or {}).get("id") for name, subnet in subnets.items()} == {
        "private-0-zone-1": nat_id,
        "private-1-zone-3": nat_id,
        "public-0-zone-1": None,
        "public-1-zone-3": None,
    }
    assert network.id.startswith(f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{AZURE_RESOURCE_GROUP}/")
    assert network.tags["portal:name"] == "env-7-network"


def test_node_pools_are_autoscaled_spot_or_gpu_tainted_and_the_first_general_one_is_the_system_pool(
    cloud: CloudHarness,
) -> None:
    fake = fake_of(cloud)
    network = cloud.driver.ensure_network(NETWORK)
    pools = (
        NodePoolSpec(
            name="batch",
            kind="high-cpu",
            instance_type="Standard_F8s_v2",
            min_size=0,
            max_size=5,
            desired_size=0,
            spot=True,
        ),
        NodePoolSpec(
            name="general", kind="general", instance_type="Standard_D4s_v5", min_size=2, max_size=6, desired_size=3
        ),
        NodePoolSpec(
            name="gpu", kind="gpu", instance_type="Standard_NC4as_T4_v3", min_size=0, max_size=2, desired_size=0
        ),
    )

    settled(
        lambda: cloud.driver.ensure_kubernetes_cluster(
            KubernetesClusterSpec(name="env-7", version="1.34", subnet_ids=(network.subnets[2].id,), node_pools=pools)
        )
    )

    stored = {
        name: pool["properties"]
        for name, pool in resources_of(fake, "Microsoft.ContainerService/managedClusters/agentPools").items()
    }
    assert {name: properties["mode"] for name, properties in stored.items()} == {
        "batch": "User",
        "general": "System",
        "gpu": "User",
    }
    assert stored["batch"]["scaleSetPriority"] == "Spot"
    assert stored["gpu"]["nodeTaints"] == ["nvidia.com/gpu=true:NoSchedule"]
    assert "nodeTaints" not in stored["general"]
    assert all(
        properties["enableAutoScaling"] and properties["vnetSubnetID"] == network.subnets[2].id
        for properties in stored.values()
    )


def test_the_portals_identity_gets_the_aks_rbac_cluster_admin_role_on_the_cluster_once(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    spec = KubernetesClusterSpec(name="env-7", version="1.34", subnet_ids=(), node_pools=(GENERAL,))

    cluster = settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))
    settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))

    assert fake.has_role(cluster.id, AKS_RBAC_CLUSTER_ADMIN, PORTAL_PRINCIPAL)
    assert (
        writes_to(
            fake,
            "PUT",
            f"/roleAssignments/{role_assignment_name(cluster.id, AKS_RBAC_CLUSTER_ADMIN, PORTAL_PRINCIPAL)}",
        )
        == 1
    )


def test_an_identity_that_may_not_assign_roles_is_told_which_role_to_ask_for(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    spec = KubernetesClusterSpec(name="env-7", version="1.34", subnet_ids=(), node_pools=(GENERAL,))
    cloud.driver.ensure_kubernetes_cluster(spec)
    fake.fail_next(
        "PUT",
        "Microsoft.Authorization/roleAssignments",
        403,
        code="AuthorizationFailed",
        message="does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write'",
    )

    with pytest.raises(errors.PermissionDenied) as denied:
        settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))

    assert "Azure Kubernetes Service RBAC Cluster Admin on env-7" in str(denied.value)
    assert "Role Based Access Control Administrator" in str(denied.value)


def test_a_role_assigned_under_another_name_by_someone_else_is_enough(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    spec = KubernetesClusterSpec(name="env-7", version="1.34", subnet_ids=(), node_pools=(GENERAL,))
    cloud.driver.ensure_kubernetes_cluster(spec)
    cluster_id = next(iter(resources_of(fake, "Microsoft.ContainerService/managedClusters").values()))["id"]
    fake.role_assignments["0b0e8a4e-0000-4000-8000-000000000001"] = {
        "scope": cluster_id,
        "role": AKS_RBAC_CLUSTER_ADMIN,
        "principal": PORTAL_PRINCIPAL,
    }

    cluster = settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))

    assert cluster.status == "available"
    assert len(fake.role_assignments) == 1


def test_network_policies_are_enforced_by_cilium_on_an_overlay(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    spec = KubernetesClusterSpec(name="env-7", version="1.34", subnet_ids=(), node_pools=(GENERAL,))

    settled(lambda: cloud.driver.ensure_kubernetes_cluster(spec))

    profile = resources_of(fake, "Microsoft.ContainerService/managedClusters")["env-7"]["properties"]["networkProfile"]
    assert profile == {
        "networkPlugin": "azure",
        "networkPluginMode": "overlay",
        "networkDataplane": "cilium",
        "networkPolicy": "cilium",
    }


@pytest.mark.parametrize(
    "profile",
    [
        {"networkPlugin": "azure", "networkPolicy": "cilium"},
        {"networkPlugin": "kubenet", "networkDataplane": "cilium", "networkPolicy": "cilium"},
    ],
)
def test_azure_refuses_a_cilium_policy_without_its_dataplane_and_plugin(cloud: CloudHarness, profile: dict) -> None:
    fake = fake_of(cloud)
    cloud.driver.ensure_network(NETWORK)  # the resource group
    base = f"https://management.azure.com/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{AZURE_RESOURCE_GROUP}"
    body = {
        "location": AZURE_LOCATION,
        "properties": {
            "agentPoolProfiles": [{"name": "general", "mode": "System", "count": 1}],
            "networkProfile": profile,
        },
    }

    answer = fake.handle(
        HttpRequest(
            "PUT",
            f"{base}/providers/Microsoft.ContainerService/managedClusters/env-7?api-version=2025-01-01",
            json=body,
        )
    )

    assert (answer.status, json.loads(answer.body)["error"]["code"]) == (400, "InvalidParameter")


def test_a_cluster_without_an_on_demand_general_pool_is_refused_before_anything_is_created(cloud: CloudHarness) -> None:
    spot_only = NodePoolSpec(
        name="batch", kind="general", instance_type="Standard_D4s_v5", min_size=0, max_size=2, desired_size=0, spot=True
    )

    with pytest.raises(errors.InvalidRequest, match="system pods"):
        cloud.driver.ensure_kubernetes_cluster(
            KubernetesClusterSpec(name="env-7", version="1.34", subnet_ids=(), node_pools=(spot_only,))
        )

    assert not fake_of(cloud).resources


def test_the_cluster_token_is_an_entra_token_for_the_aks_server_application(cloud: CloudHarness) -> None:
    network = cloud.driver.ensure_network(NETWORK)
    general = NodePoolSpec(
        name="general", kind="general", instance_type="Standard_D4s_v5", min_size=1, max_size=1, desired_size=1
    )
    cloud.driver.ensure_kubernetes_cluster(
        KubernetesClusterSpec(name="env-7", version="1.34", subnet_ids=(network.subnets[2].id,), node_pools=(general,))
    )

    token, expires_at = cloud.driver.kubernetes_token("env-7")

    assert cloud.driver.credential.scopes[-1] == AKS_SERVER_SCOPE
    assert abs((expires_at - datetime.now(tz=UTC)).total_seconds() - 3600) < 60
    assert token.count(".") == 2
    with pytest.raises(errors.NotFound):
        cloud.driver.kubernetes_token("no-such-cluster")


def test_the_replica_is_a_replica_mode_server_in_the_dr_region_with_the_primary_as_source(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)

    database = settled(lambda: cloud.driver.ensure_database(DATABASE))

    servers = resources_of(fake, "Microsoft.DBforPostgreSQL/flexibleServers")
    replica, primary = servers["env-7-db-replica"], servers["env-7-db"]
    assert replica["location"] == "germanywestcentral"
    assert replica["properties"]["createMode"] == "Replica"
    assert replica["properties"]["sourceServerResourceId"] == database.id
    assert primary["properties"]["backup"]["geoRedundantBackup"] == "Enabled"
    assert primary["properties"]["authConfig"] == {
        "activeDirectoryAuth": "Enabled",
        "passwordAuth": "Disabled",
        "tenantId": AZURE_TENANT,
    }
    assert primary["sku"] == {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"}
    assert database.endpoint == "env-7-db.postgres.database.azure.com"
    assert database.backup_retention_days == 35


def test_deleting_a_database_deletes_its_replica_first_and_then_the_server(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    settled(lambda: cloud.driver.ensure_database(DATABASE))

    cloud.driver.delete_database("env-7-db")

    deletes = [
        url.split("?")[0].rsplit("/", 1)[1]
        for method, url in fake.requests
        if method == "DELETE" and "/flexibleServers/" in url
    ]
    assert deletes == ["env-7-db-replica", "env-7-db"]
    assert cloud.driver.describe_database("env-7-db").status == "deleting"  # started, not waited for
    gone(lambda: cloud.driver.describe_database("env-7-db"))
    left = resources_of(fake, "Microsoft.DBforPostgreSQL/flexibleServers")
    assert list(left) == ["env-7-db-replica"]  # in the partner's group, gone once Azure has finished there too
    assert left["env-7-db-replica"]["properties"]["provisioningState"] == "Deleting"


@pytest.mark.parametrize("what", ["cluster", "cache"])
def test_a_long_delete_returns_once_azure_accepted_it_and_the_resource_is_then_looked_at_until_gone(
    cloud: CloudHarness, what: str
) -> None:
    fake = fake_of(cloud)
    driver = cloud.driver
    if what == "cluster":
        spec = KubernetesClusterSpec(name="env-7", version="1.34", subnet_ids=(), node_pools=(GENERAL,))
        settled(lambda: driver.ensure_kubernetes_cluster(spec))
        delete, describe = driver.delete_kubernetes_cluster, driver.describe_kubernetes_cluster
        name, fragment = "env-7", "/managedClusters/env-7"
    else:
        settled(lambda: driver.ensure_cache(CacheSpec(name="env-7-redis", node_type="Standard_C1", replicas=1)))
        delete, describe = driver.delete_cache, driver.describe_cache
        name, fragment = "env-7-redis", "/redis/env-7-redis"
    polls_before = fake.polls()

    delete(name)

    assert describe(name).status == "deleting"
    assert fake.polls() == polls_before, "no poller waited on the delete"
    assert writes_to(fake, "DELETE", fragment) == 1
    gone(lambda: describe(name))
    delete(name)  # deleting what is gone is done
    assert writes_to(fake, "DELETE", fragment) == 2


def test_the_fake_answers_a_long_delete_with_202_and_both_operation_headers(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    settled(lambda: cloud.driver.ensure_cache(CacheSpec(name="env-7-redis", node_type="Standard_C1", replicas=1)))
    group = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{AZURE_RESOURCE_GROUP}"
    path = f"{group}/providers/Microsoft.Cache/redis/env-7-redis"

    answer = fake.arm("DELETE", path, {}, {})

    assert answer.status == 202
    assert {"Azure-AsyncOperation", "Location"} <= set(answer.headers)


def test_deleting_a_network_takes_its_nat_gateway_and_public_ip_with_it(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    cloud.driver.ensure_network(NETWORK)

    cloud.driver.delete_network(NETWORK.name)

    assert not [
        resource["id"] for resource in fake.resources.values() if resource["type"].startswith("Microsoft.Network/")
    ]


def test_a_customer_managed_key_is_refused_rather_than_silently_ignored(cloud: CloudHarness) -> None:
    keyed = dataclasses.replace(DATABASE, replica_region=None, encryption_key_id="https://kv/keys/k")

    with pytest.raises(errors.InvalidRequest, match="customer-managed"):
        cloud.driver.ensure_database(keyed)
    with pytest.raises(errors.InvalidRequest, match="customer-managed"):
        cloud.driver.ensure_bucket(BucketSpec(name="env-7-assets", encryption_key_id="https://kv/keys/k"))


def test_a_standard_cache_has_one_replica_and_cannot_be_asked_for_more(cloud: CloudHarness) -> None:
    cache = cloud.driver.ensure_cache(CacheSpec(name="env-7-redis", node_type="Standard_C1", replicas=1))

    assert (cache.node_type, cache.replicas, cache.port) == ("Standard_C1", 1, 6380)
    assert cache.primary_endpoint == "env-7-redis.redis.cache.windows.net"
    with pytest.raises(errors.InvalidRequest, match="Premium"):
        cloud.driver.ensure_cache(CacheSpec(name="env-7-big", node_type="Standard_C1", replicas=2))
    with pytest.raises(errors.InvalidRequest, match="Premium_P1"):
        cloud.driver.ensure_cache(CacheSpec(name="env-7-odd", node_type="cache.t4g.small"))


def test_storage_names_are_deterministic_and_valid_and_the_spec_name_is_a_tag(cloud: CloudHarness) -> None:
    long_name = "Env-42_Analytics.Exports-For-Finance"
    account = storage_account_name(AZURE_SUBSCRIPTION, long_name)

    cloud.driver.ensure_bucket(BucketSpec(name="env-7-assets"))

    assert re.fullmatch(r"[a-z0-9]{3,24}", account)
    assert account == storage_account_name(AZURE_SUBSCRIPTION, long_name)
    assert account != storage_account_name("another-subscription", long_name)
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", container_name(long_name))
    stored = resources_of(fake_of(cloud), "Microsoft.Storage/storageAccounts")
    assert stored[storage_account_name(AZURE_SUBSCRIPTION, "env-7-assets")]["tags"]["portal:name"] == "env-7-assets"
    assert re.fullmatch(
        r"[a-z][a-z0-9-]{2,23}", key_vault_name(AZURE_SUBSCRIPTION, AZURE_RESOURCE_GROUP, "australiasoutheast")
    )


def test_replication_is_an_object_replication_policy_on_both_accounts(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    cloud.driver.ensure_bucket(BucketSpec(name="env-7-dr"))

    cloud.driver.ensure_bucket(BucketSpec(name="env-7-assets", replication_target_bucket="env-7-dr"))
    cloud.driver.ensure_bucket(BucketSpec(name="env-7-assets", replication_target_bucket="env-7-dr"))

    policies = [
        r for r in fake.resources.values() if r["type"] == "Microsoft.Storage/storageAccounts/objectReplicationPolicies"
    ]
    assert len(policies) == 2  # one on the destination, one on the source, with the same id
    assert {policy["name"] for policy in policies} == {policies[0]["properties"]["policyId"]}
    assert policies[0]["properties"]["rules"][0]["destinationContainer"] == "env-7-dr"


def test_a_container_the_portal_did_not_create_is_named_account_slash_container(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    fake.blobs[("billingexports", "daily")] = {}
    fake.put_blob("billingexports", "daily", "2026/11/part-1.csv", b"cost\n1.5\n")

    listed = cloud.driver.list_objects("billingexports/daily", prefix="2026/")

    assert [(item.key, item.size) for item in listed] == [("2026/11/part-1.csv", 9)]
    assert cloud.driver.read_object("billingexports/daily", "2026/11/part-1.csv") == b"cost\n1.5\n"
    with pytest.raises(errors.NotFound):
        cloud.driver.list_objects("billingexports/missing")


def test_a_listing_longer_than_a_page_follows_the_markers(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    cloud.driver.ensure_bucket(BucketSpec(name="env-7-logs"))
    for number in range(5):
        cloud.put_object("env-7-logs", f"log-{number}.txt", b"x" * number)

    listed = cloud.driver.list_objects("env-7-logs")

    assert [item.key for item in listed] == [f"log-{number}.txt" for number in range(5)]
    assert sum(1 for method, url in fake.requests if "comp=list" in url) == 3  # pages of two


def test_deleting_a_key_needs_key_vault_crypto_officer_which_the_portal_gives_itself(
    cloud: CloudHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fake_of(cloud)
    cloud.driver.ensure_key(KeySpec(alias="env-7"))
    vault = resources_of(fake, "Microsoft.KeyVault/vaults")[cloud.driver.vault_name]
    assert fake.has_role(vault["id"], KEY_VAULT_CRYPTO_OFFICER, PORTAL_PRINCIPAL)

    # Without the role (as the driver left it before), the vault's data plane refuses the delete.
    fake.role_assignments.clear()
    with monkeypatch.context() as patched:
        patched.setattr(cloud.driver, "_ensure_role", lambda scope, role: None)
        with pytest.raises(errors.PermissionDenied, match="ForbiddenByRbac"):
            cloud.driver.delete_key("env-7")

    cloud.driver.delete_key("env-7")  # gives itself the role on the vault first

    with pytest.raises(errors.NotFound):
        cloud.driver.describe_key("env-7")


def test_two_installations_sharing_a_subscription_and_group_have_two_vaults() -> None:
    first = key_vault_name(AZURE_SUBSCRIPTION, AZURE_RESOURCE_GROUP, AZURE_LOCATION, "alpha")
    second = key_vault_name(AZURE_SUBSCRIPTION, AZURE_RESOURCE_GROUP, AZURE_LOCATION, "beta")

    assert first != second
    assert all(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", name) for name in (first, second))
    assert key_vault_name(AZURE_SUBSCRIPTION, AZURE_RESOURCE_GROUP, AZURE_LOCATION) == key_vault_name(
        AZURE_SUBSCRIPTION, AZURE_RESOURCE_GROUP, AZURE_LOCATION, ""
    )


def test_the_factory_gives_the_driver_the_installations_id() -> None:
    driver = build_azure_driver(
        auth_method="azure_client_secret",
        tenant_id=AZURE_TENANT,
        client_id="app-id",
        client_secret=SECRET,
        subscription_id=AZURE_SUBSCRIPTION,
        location=AZURE_LOCATION,
        installation_id="alpha",
    )

    assert driver.installation_id == "alpha"


def test_a_vault_made_before_its_name_carried_the_installations_id_keeps_its_keys_in_use(
    cloud: CloudHarness,
) -> None:
    fake = fake_of(cloud)
    before = cloud.driver.ensure_key(KeySpec(alias="env-7"))  # a driver without an id: the earlier vault name

    def installation(resource_group: str) -> AzureCloudDriver:
        return AzureCloudDriver(
            cloud.driver.credential,
            AZURE_SUBSCRIPTION,
            location=AZURE_LOCATION,
            resource_group=resource_group,
            transport=fake.transport(),
            polling_interval=0,
            installation_id="alpha",
        )

    upgraded = installation(AZURE_RESOURCE_GROUP)
    assert upgraded.describe_key("env-7").arn == before.arn
    assert upgraded.ensure_key(KeySpec(alias="env-7")).arn == before.arn
    assert sorted(resources_of(fake, "Microsoft.KeyVault/vaults")) == [
        key_vault_name(AZURE_SUBSCRIPTION, AZURE_RESOURCE_GROUP, AZURE_LOCATION)
    ]
    # Where no earlier vault stands, the vault is named for the installation.
    fresh = installation("platform-portal-elsewhere")
    fresh.ensure_key(KeySpec(alias="env-7"))
    assert fresh.vault_name == key_vault_name(AZURE_SUBSCRIPTION, "platform-portal-elsewhere", AZURE_LOCATION, "alpha")
    assert fresh.vault_name in resources_of(fake, "Microsoft.KeyVault/vaults")


def test_a_deleted_key_cannot_be_created_again_under_the_same_alias_while_purge_protection_holds(
    cloud: CloudHarness,
) -> None:
    fake = fake_of(cloud)
    key = cloud.driver.ensure_key(KeySpec(alias="env-7"))

    cloud.driver.delete_key("env-7")

    vault = resources_of(fake, "Microsoft.KeyVault/vaults")[cloud.driver.vault_name]
    assert vault["properties"]["tenantId"] == AZURE_TENANT  # read from the token's tid claim
    assert vault["properties"]["enablePurgeProtection"] is True
    assert key.arn == f"https://{cloud.driver.vault_name}.vault.azure.net/keys/env-7"
    with pytest.raises(errors.Conflict):
        cloud.driver.ensure_key(KeySpec(alias="env-7"))


# ---------------------------------------------------------------- costs


def test_asking_for_more_than_one_tag_is_refused_before_any_query(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)

    with pytest.raises(errors.InvalidRequest, match="at most 2"):
        cloud.driver.fetch_costs(date(2026, 11, 1), date(2026, 11, 2), ["portal:team", "portal:environment"])

    assert not any("CostManagement" in url for method, url in fake.requests)


def test_without_tags_costs_are_split_by_service_and_region_across_pages(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    for day in (1, 2, 3):
        fake.seed_cost(date(2026, 11, day), "Virtual Machines", "westeurope", {}, "10.25")
        fake.seed_cost(date(2026, 11, day), "Virtual Machines", "westeurope", {"portal:team": "a"}, "1.75")
        fake.seed_cost(date(2026, 11, day), "Storage", "germanywestcentral", {}, "0.5")

    items = cloud.driver.fetch_costs(date(2026, 11, 1), date(2026, 11, 4))

    assert len(items) == 6  # two pages of rows from the fake, each row once
    assert {(item.service, item.region, item.amount) for item in items} == {
        ("Virtual Machines", "westeurope", Decimal("12.0")),
        ("Storage", "germanywestcentral", Decimal("0.5")),
    }
    assert all(item.tags == {} and item.account == AZURE_SUBSCRIPTION for item in items)
    assert sum(1 for method, url in fake.requests if "skiptoken" in url) == 1


def test_the_query_covers_whole_days_up_to_the_exclusive_end(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    fake.seed_cost(date(2026, 10, 31), "Storage", "westeurope", {}, "1")
    fake.seed_cost(date(2026, 11, 1), "Storage", "westeurope", {}, "2")
    fake.seed_cost(date(2026, 11, 2), "Storage", "westeurope", {}, "4")

    items = cloud.driver.fetch_costs(date(2026, 11, 1), date(2026, 11, 2))

    assert [(item.usage_date, item.amount) for item in items] == [(date(2026, 11, 1), Decimal("2.0"))]


def test_failover_promotes_the_replica_with_a_planned_standalone_patch(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    settled(lambda: cloud.driver.ensure_database(DATABASE))

    cloud.driver.promote_database_replica("env-7-db", "germanywestcentral", backup_retention_days=21)

    patches = [url for method, url in fake.requests if method == "PATCH"]
    assert len(patches) == 1
    assert "/resourceGroups/platform-portal-germanywestcentral/" in patches[0]
    assert "/flexibleServers/env-7-db-replica?" in patches[0]
    assert fake.promotions == [{"server": "env-7-db-replica", "option": "planned"}]
    promoted = resources_of(fake, "Microsoft.DBforPostgreSQL/flexibleServers")["env-7-db-replica"]["properties"]
    assert (promoted["replicationRole"], "sourceServerResourceId" in promoted) == ("None", False)
    assert promoted["backup"]["backupRetentionDays"] == 21


def test_with_the_primary_region_down_the_replica_is_promoted_forced(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    settled(lambda: cloud.driver.ensure_database(DATABASE))
    fake.down_locations.add(AZURE_LOCATION)

    promoted = cloud.driver.promote_database_replica("env-7-db", "germanywestcentral")

    assert fake.promotions == [{"server": "env-7-db-replica", "option": "forced"}]
    assert promoted.name == "env-7-db-replica"


def test_azure_refuses_a_planned_promotion_while_the_primary_is_down(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    settled(lambda: cloud.driver.ensure_database(DATABASE))
    fake.down_locations.add(AZURE_LOCATION)
    group = "platform-portal-germanywestcentral"
    servers = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.DBforPostgreSQL"
    path = f"{servers}/flexibleServers/env-7-db-replica"

    answer = fake.handle(
        HttpRequest(
            "PATCH",
            f"https://management.azure.com{path}?api-version=2026-10-01",
            json={"properties": {"replica": {"promoteMode": "standalone", "promoteOption": "planned"}}},
        )
    )

    assert (answer.status, json.loads(answer.body)["error"]["code"]) == (400, "SourceServerNotAvailable")


def test_the_replica_lives_in_the_partner_regions_resource_group_where_its_driver_finds_it(
    cloud: CloudHarness,
) -> None:
    fake = fake_of(cloud)
    settled(lambda: cloud.driver.ensure_database(DATABASE))
    partner = AzureCloudDriver(
        FakeCredential(AZURE_TENANT),
        AZURE_SUBSCRIPTION,
        location="germanywestcentral",
        resource_group="platform-portal-germanywestcentral",
        transport=fake.transport(),
        polling_interval=0,
    )

    replica = partner.describe_database("env-7-db-replica")

    assert "/resourceGroups/platform-portal-germanywestcentral/" in replica.id
    assert fake.groups["platform-portal-germanywestcentral"]["location"] == "germanywestcentral"


def test_the_replica_lag_is_azure_monitors_latest_value(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    settled(lambda: cloud.driver.ensure_database(DATABASE))
    fake.replica_lag["env-7-db-replica"] = 42.0

    replica = cloud.driver.describe_database("env-7-db").replica

    assert replica is not None
    assert replica.lag_seconds == 42.0
    metric_queries = [url for method, url in fake.requests if "/providers/Microsoft.Insights/metrics" in url]
    assert metric_queries
    assert "metricnames=physical_replication_delay_in_seconds" in metric_queries[-1]


def test_the_latest_restorable_time_is_the_newest_backup_not_the_present(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    database = settled(lambda: cloud.driver.ensure_database(DATABASE))
    server = resources_of(fake, "Microsoft.DBforPostgreSQL/flexibleServers")["env-7-db"]
    for backup in fake.children(server["id"], "backups"):
        del fake.resources[backup["id"].lower()]
    six_hours_ago = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=6)
    fake.add_backup(server["id"], six_hours_ago - timedelta(days=1))
    fake.add_backup(server["id"], six_hours_ago)

    described = cloud.driver.describe_database(database.name)

    assert described.latest_restorable_time == six_hours_ago


def test_a_burstable_database_with_a_replica_is_refused_before_anything_is_sent(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    spec = dataclasses.replace(DATABASE, instance_class="Standard_B2s")

    with pytest.raises(errors.InvalidRequest, match="Burstable"):
        cloud.driver.ensure_database(spec)

    assert writes_to(fake, "PUT", "/flexibleServers/env-7-db") == 0


def test_azure_refuses_a_replica_of_a_burstable_server_and_a_sku_in_the_wrong_tier(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    settled(
        lambda: cloud.driver.ensure_database(
            dataclasses.replace(DATABASE, instance_class="Standard_B2s", replica_region=None)
        )
    )
    primary = resources_of(fake, "Microsoft.DBforPostgreSQL/flexibleServers")["env-7-db"]
    base = f"https://management.azure.com/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{AZURE_RESOURCE_GROUP}"
    url = f"{base}/providers/Microsoft.DBforPostgreSQL/flexibleServers/%s?api-version=2026-10-01"

    replica = fake.handle(
        HttpRequest(
            "PUT",
            url % "env-7-db-replica",
            json={
                "location": "germanywestcentral",
                "sku": primary["sku"],
                "properties": {"createMode": "Replica", "sourceServerResourceId": primary["id"]},
            },
        )
    )
    mismatched = fake.handle(
        HttpRequest(
            "PUT",
            url % "env-8-db",
            json={"location": AZURE_LOCATION, "sku": {"name": "Standard_B2s", "tier": "GeneralPurpose"}},
        )
    )

    assert json.loads(replica.body)["error"]["code"] == "ReplicaNotSupported"
    assert json.loads(mismatched.body)["error"]["code"] == "InvalidParameterValue"
    with pytest.raises(errors.InvalidRequest, match="Burstable"):
        cloud.driver.ensure_database_replica("env-7-db", "germanywestcentral")


def test_the_database_has_the_portals_identity_as_entra_administrator_and_no_public_access(
    cloud: CloudHarness,
) -> None:
    fake = fake_of(cloud)

    settled(lambda: cloud.driver.ensure_database(DATABASE))
    settled(lambda: cloud.driver.ensure_database(DATABASE))

    admins = resources_of(fake, "Microsoft.DBforPostgreSQL/flexibleServers/administrators")
    assert list(admins) == [PORTAL_PRINCIPAL]
    assert admins[PORTAL_PRINCIPAL]["properties"]["principalType"] == "ServicePrincipal"
    assert admins[PORTAL_PRINCIPAL]["properties"]["tenantId"] == AZURE_TENANT
    assert writes_to(fake, "PUT", f"/administrators/{PORTAL_PRINCIPAL}") == 1
    servers = resources_of(fake, "Microsoft.DBforPostgreSQL/flexibleServers")
    for server in servers.values():
        assert server["properties"]["network"]["publicNetworkAccess"] == "Disabled"


@pytest.mark.parametrize(
    ("service", "group_id", "zone"),
    [
        ("database", "postgresqlServer", "privatelink.postgres.database.azure.com"),
        ("cache", "redisCache", "privatelink.redis.cache.windows.net"),
    ],
)
def test_a_database_or_cache_is_reached_through_a_private_endpoint_in_the_private_subnet(
    cloud: CloudHarness, service: str, group_id: str, zone: str
) -> None:
    fake = fake_of(cloud)
    network = cloud.driver.ensure_network(NETWORK)
    private = [subnet.id for subnet in network.subnets if not subnet.public]
    if service == "database":
        spec = dataclasses.replace(DATABASE, replica_region=None, subnet_ids=tuple(private))
        target = settled(lambda: cloud.driver.ensure_database(spec))
        name = spec.name
    else:
        cache = CacheSpec(name="env-7-redis", node_type="Standard_C1", replicas=1, subnet_ids=tuple(private))
        target = settled(lambda: cloud.driver.ensure_cache(cache))
        name = cache.name
        target = settled(lambda: cloud.driver.ensure_cache(cache))  # the endpoint follows the cache being up

    endpoint = resources_of(fake, "Microsoft.Network/privateEndpoints")[f"{name}-pe"]["properties"]
    assert endpoint["subnet"]["id"] == private[0]
    connection = endpoint["privateLinkServiceConnections"][0]["properties"]
    assert (connection["privateLinkServiceId"], connection["groupIds"]) == (target.id, [group_id])
    assert zone in resources_of(fake, "Microsoft.Network/privateDnsZones")
    links = resources_of(fake, "Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    assert links[NETWORK.name]["properties"]["virtualNetwork"]["id"] == network.id
    zone_group = resources_of(fake, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups")["default"]
    assert zone_group["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"].endswith(zone)

    # Undone in order: deleting it takes its endpoint out of the subnet first, so the network can go too.
    if service == "database":
        cloud.driver.delete_database(name)
    else:
        cloud.driver.delete_cache(name)
    cloud.driver.delete_network(NETWORK.name)
    with pytest.raises(errors.NotFound):
        cloud.driver.describe_network(NETWORK.name)


DR_NETWORK = NetworkSpec(
    name="env-7-dr-network",
    cidr="10.8.0.0/16",
    availability_zones=("1", "2"),
    public_subnet_cidrs=(),
    private_subnet_cidrs=("10.8.10.0/24", "10.8.11.0/24"),
    nat_gateway=False,
)


def test_a_replica_is_reached_through_a_private_endpoint_in_the_partners_network_only(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    partner = cloud.driver.in_region(DATABASE.replica_region)
    dr = partner.ensure_network(DR_NETWORK)
    spec = dataclasses.replace(DATABASE, replica_placement=Placement(tuple(subnet.id for subnet in dr.subnets), dr.id))

    settled(lambda: cloud.driver.ensure_database(spec))
    replica = settled(
        lambda: cloud.driver.ensure_database_replica(
            spec.name, DATABASE.replica_region or "", placement=spec.replica_placement
        )
    )

    assert replica.status == "available"
    endpoint = resources_of(fake, "Microsoft.Network/privateEndpoints")["env-7-db-replica-pe"]
    assert endpoint["location"] == "germanywestcentral"
    assert "/resourcegroups/platform-portal-germanywestcentral/" in endpoint["id"].lower()
    assert endpoint["properties"]["subnet"]["id"] == dr.subnets[0].id
    server = resources_of(fake, "Microsoft.DBforPostgreSQL/flexibleServers")["env-7-db-replica"]
    assert (
        endpoint["properties"]["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"] == server["id"]
    )
    assert server["properties"]["network"]["publicNetworkAccess"] == "Disabled"
    links = resources_of(fake, "Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    assert links[DR_NETWORK.name]["properties"]["virtualNetwork"]["id"] == dr.id

    # Deleting the replica takes its endpoint out of the partner's subnet, so that network can go too.
    cloud.driver.delete_database_replica(spec.name, DATABASE.replica_region or "")
    assert "env-7-db-replica-pe" not in resources_of(fake, "Microsoft.Network/privateEndpoints")
    partner.delete_network(DR_NETWORK.name)
    with pytest.raises(errors.NotFound):
        partner.describe_network(DR_NETWORK.name)


def test_azure_refuses_a_private_endpoint_in_another_region_than_its_network(cloud: CloudHarness) -> None:
    # "The private endpoint must be deployed in the same region and subscription as the virtual network": an
    # endpoint made by the primary's driver (its region) on the partner's subnet is refused.
    dr = cloud.driver.in_region(DATABASE.replica_region).ensure_network(DR_NETWORK)
    database = dataclasses.replace(DATABASE, replica_region=None)
    settled(lambda: cloud.driver.ensure_database(database))
    server = resources_of(fake_of(cloud), "Microsoft.DBforPostgreSQL/flexibleServers")["env-7-db"]

    with pytest.raises(errors.InvalidRequest, match="InvalidPrivateEndpointLocation"):
        cloud.driver._ensure_private_endpoint("postgresql", server, dr.subnets[0].id)


def test_azure_refuses_to_delete_a_network_whose_subnet_holds_a_private_endpoint(cloud: CloudHarness) -> None:
    network = cloud.driver.ensure_network(NETWORK)
    private = next(subnet.id for subnet in network.subnets if not subnet.public)
    cache = CacheSpec(name="env-7-redis", node_type="Standard_C1", replicas=1, subnet_ids=(private,))
    settled(lambda: cloud.driver.ensure_cache(cache))
    settled(lambda: cloud.driver.ensure_cache(cache))

    with pytest.raises(errors.InvalidRequest, match="InUseSubnetCannotBeDeleted"):
        cloud.driver.delete_network(NETWORK.name)


def test_a_cache_has_no_public_network_access(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)

    settled(lambda: cloud.driver.ensure_cache(CacheSpec(name="env-7-redis", node_type="Standard_C1", replicas=1)))

    cache = resources_of(fake, "Microsoft.Cache/redis")["env-7-redis"]
    assert cache["properties"]["publicNetworkAccess"] == "Disabled"


def test_a_replica_in_another_region_than_asked_is_not_promoted(cloud: CloudHarness) -> None:
    settled(lambda: cloud.driver.ensure_database(DATABASE))

    with pytest.raises(errors.NotFound, match="no replica in northeurope"):
        cloud.driver.promote_database_replica("env-7-db", "northeurope")


# ---------------------------------------------------------------- cost queries: paging, 204 and 429


def test_a_cost_query_answered_204_no_content_is_an_empty_answer_not_an_error(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    fake.seed_cost(date(2026, 11, 1), "Storage", "westeurope", {}, "2")
    fake.cost_no_content = 1

    report = cloud.driver.cost_report(date(2026, 11, 1), date(2026, 11, 2))

    assert (report.items, report.requests) == ([], 1)


def test_a_next_page_answered_204_ends_the_answer_with_the_rows_before_it(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    for day in range(1, 7):  # six rows: two pages of four
        fake.seed_cost(date(2026, 11, day), "Storage", "westeurope", {}, "1")
    real_query = fake.cost_query

    def no_content_after_the_first_page(path: str, query: dict[str, list[str]], body: dict) -> Answer:
        if "$skiptoken" in query:
            return Answer(204)
        return real_query(path, query, body)

    fake.cost_query = no_content_after_the_first_page  # type: ignore[method-assign]

    report = cloud.driver.cost_report(date(2026, 11, 1), date(2026, 11, 7))

    assert len(report.items) == 4
    assert report.requests == 2


def test_a_throttled_cost_query_waits_as_long_as_retry_after_says_then_pages_on(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    for day in range(1, 7):
        fake.seed_cost(date(2026, 11, day), "Virtual Machines", "westeurope", {}, "3.5")
    fake.fail_next("POST", "Microsoft.CostManagement/query", 429, times=1, retry_after=7)
    driver = cloud.driver
    driver.retry_policy = RetryPolicy(attempts=3, base_seconds=0, cap_seconds=30)

    report = driver.cost_report(date(2026, 11, 1), date(2026, 11, 7))

    assert cloud.sleeps == [7.0]  # the service's hint, not the (zero) backoff of the policy
    assert len(report.items) == 6
    assert sum(item.amount for item in report.items) == Decimal("21.0")
    assert report.requests == 3  # the refused try, the first page, the next page
    assert all(item.effective_amount is None for item in report.items)  # ActualCost: billed and effective agree


def test_cost_rows_keep_the_currency_the_query_answers_in(cloud: CloudHarness) -> None:
    fake = fake_of(cloud)
    fake.seed_cost(date(2026, 11, 1), "Storage", "westeurope", {}, "2.5")

    report = cloud.driver.cost_report(date(2026, 11, 1), date(2026, 11, 2))

    assert [(item.usage_date, item.service, item.region, item.amount, item.currency) for item in report.items] == [
        (date(2026, 11, 1), "Storage", "westeurope", Decimal("2.5"), "USD")
    ]


def test_aks_versions_mark_the_preview_and_the_default_and_give_the_patch_versions_newest_first(
    cloud: CloudHarness,
) -> None:
    versions = cloud.driver.kubernetes_versions()

    assert [(info.version, info.support, info.default) for info in versions] == [
        ("1.35", "preview", False),
        ("1.34", "standard", False),
        ("1.33", "standard", True),
        ("1.32", "standard", False),
    ]  # 1.30 has only long-term support, which needs the Premium tier the driver does not ask for
    assert versions[1].patch_versions == ("1.34.2", "1.34.1")
    assert ("GET", "westeurope") in [
        (method, url.split("/locations/")[1].split("/")[0])
        for method, url in fake_of(cloud).requests
        if "/locations/" in url
    ]
