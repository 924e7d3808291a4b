"""Three cloud drivers behind one harness: the sandbox, the AWS driver talking HTTP to a moto server, and the
Azure driver talking to an in-memory Azure through azure-core's transport.

The contract suite asks the harness, not the driver, for what only a test
needs: making the next calls of a step fail, putting an object, counting
resources by their portal tag, and seeding cost data (moto answers
``GetCostAndUsage`` only with results queued through its API; the fake Azure
answers Cost Management queries from seeded rows). Inputs that only make sense
for one cloud (zone and instance type names, the DR region, the token's form)
come from the harness's :class:`ProviderInputs`, so the assertions stay the same.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from providers import errors
from providers.aws.cloud import ALIAS_TAG, NAME_TAG, AwsCloudDriver
from providers.azure.cloud import AzureCloudDriver, container_name, storage_account_name
from providers.cloud import AwsCredentials
from providers.retry import RetryPolicy
from providers.sandbox.cloud import SandboxCloudDriver
from tests.providers import aws_rules
from tests.providers.azure_fake import FakeAzure, FakeCredential

T = TypeVar("T")
REGION = "eu-west-1"
DR_REGION = "eu-central-1"
ACCOUNT = "123456789012"
# Three tries, no waiting: the suite checks that retries happen, not how long they take.
TEST_RETRIES = RetryPolicy(attempts=3, base_seconds=0, cap_seconds=0)

# The neutral step names the suite uses, and the AWS operation each one is.
AWS_OPERATIONS = {
    "create_subnet": "ec2.CreateSubnet",
    "create_nat_gateway": "ec2.CreateNatGateway",
    "create_bucket": "s3.CreateBucket",
    "create_key": "kms.CreateKey",
    "create_alias": "kms.CreateAlias",
    "create_cluster": "eks.CreateCluster",
    "create_node_pool": "eks.CreateNodegroup",
    "create_db_instance_read_replica": "rds.CreateDBInstanceReadReplica",
    "put_bucket_versioning": "s3.PutBucketVersioning",
}
AWS_ERROR_CODES: dict[type[errors.ProviderError], tuple[str, int]] = {
    errors.Throttled: ("ThrottlingException", 400),
    errors.Unavailable: ("ServiceUnavailable", 503),
}


AZURE_SUBSCRIPTION = "9b0f2c61-4d7e-4c1a-8f3e-2a6d5c4b3e21"
AZURE_TENANT = "5e1d7a90-3c2b-4f8e-9a61-7b4c2d0e8f13"
AZURE_LOCATION = "westeurope"
AZURE_RESOURCE_GROUP = "platform-portal-westeurope"
# The neutral step names, and the Azure request each one is: (method, resource type, which bodies).
# Azure has no key alias apart from the key: the alias is the key's name, given in the one PUT that
# creates it in the vault, so "create_key" and "create_alias" are both that PUT; what exists before
# it fails (the vault) is what the re-run must adopt rather than duplicate.
AZURE_OPERATIONS: dict[str, tuple[str, str, Callable[[dict[str, Any]], bool] | None]] = {
    "create_subnet": ("PUT", "Microsoft.Network/virtualNetworks/subnets", None),
    "create_nat_gateway": ("PUT", "Microsoft.Network/natGateways", None),
    "create_bucket": ("PUT", "Microsoft.Storage/storageAccounts", None),
    "create_key": ("PUT", "Microsoft.KeyVault/vaults/keys", None),
    "create_alias": ("PUT", "Microsoft.KeyVault/vaults/keys", None),
    "create_cluster": ("PUT", "Microsoft.ContainerService/managedClusters", None),
    "create_node_pool": ("PUT", "Microsoft.ContainerService/managedClusters/agentPools", None),
    "create_db_instance_read_replica": (
        "PUT",
        "Microsoft.DBforPostgreSQL/flexibleServers",
        lambda body: body.get("properties", {}).get("createMode") == "Replica",
    ),
    "put_bucket_versioning": ("PUT", "Microsoft.Storage/storageAccounts/blobServices", None),
}
AZURE_STATUS: dict[type[errors.ProviderError], int] = {errors.Throttled: 429, errors.Unavailable: 503}


# What the drivers report once a resource is usable (the workflows' notion of ready).
READY = {"available", "active", "succeeded", "ready", "running"}


def _usable(info: Any) -> bool:
    if str(getattr(info, "status", "available")).lower() not in READY:
        return False
    replica = getattr(info, "replica", None)
    return all(_usable(part) for part in getattr(info, "node_pools", ())) and (replica is None or _usable(replica))


def settled(ensure: Callable[[], T], looks: int = 30) -> T:
    """Call an ``ensure_*`` until what it reports is usable, as a workflow step does between its waits.

    The Azure driver starts long operations and returns (the fake finishes
    them after a few looks); AWS on moto and the sandbox are done at once.
    """
    for _ in range(looks):
        info = ensure()
        if _usable(info):
            return info
    raise AssertionError(f"still not usable after {looks} calls: {info!r}")


@dataclass(frozen=True)
class ProviderInputs:
    """The provider-specific inputs of the contract suite, and what the driver reports back for them."""

    region: str
    dr_region: str
    zones: tuple[str, str]
    instance_types: Mapping[str, str]  # by node pool kind
    database_class: str
    cache_node_type: str
    cache_port: int
    account: str
    storage_service: str  # how the cost data names object storage
    token_prefix: str
    token_lifetime: timedelta
    # Node pools that exist as soon as the cluster does (AKS creates its system pool with the cluster).
    pools_born_with_cluster: tuple[str, ...] = ()


AWS_INPUTS = ProviderInputs(
    region=REGION,
    dr_region=DR_REGION,
    zones=("eu-west-1a", "eu-west-1b"),
    instance_types={"general": "m6i.large", "high-cpu": "c6i.2xlarge", "gpu": "g5.xlarge"},
    database_class="db.t4g.medium",
    cache_node_type="cache.t4g.small",
    cache_port=6379,
    account=ACCOUNT,
    storage_service="Amazon Simple Storage Service",
    token_prefix="k8s-",  # an EKS token (and the sandbox's imitation of one)
    token_lifetime=timedelta(minutes=15),
)
AZURE_INPUTS = ProviderInputs(
    region=AZURE_LOCATION,
    dr_region="germanywestcentral",
    zones=("1", "2"),
    instance_types={"general": "Standard_D4s_v5", "high-cpu": "Standard_F8s_v2", "gpu": "Standard_NC4as_T4_v3"},
    database_class="Standard_D2ds_v5",
    cache_node_type="Premium_P1",
    cache_port=6380,  # Azure Cache for Redis over TLS; the plain port stays closed
    account=AZURE_SUBSCRIPTION,
    storage_service="Storage",
    token_prefix="eyJ",  # an Entra ID access token is a JWT
    token_lifetime=timedelta(minutes=90),  # Entra ID issues tokens for 60 to 90 minutes
    pools_born_with_cluster=("general",),
)


@dataclass
class CloudHarness:
    """A driver under test and the test-only levers around it."""

    name: str
    driver: Any
    fail_next: Callable[[str, type[errors.ProviderError], int], None]
    put_object: Callable[[str, str, bytes], None]
    count_networks: Callable[[str], int]
    count_keys: Callable[[str], int]
    seed_costs: Callable[[date, date, str, str, str], None]
    sleeps: list[float]
    inputs: ProviderInputs = AWS_INPUTS
    backend: Any = field(default=None)  # the fake behind the driver, where there is one


MOTO_MANAGED_POLICIES = "MOTO_IAM_LOAD_MANAGED_POLICIES"
# A reset rebuilds every backend in use (IAM's with AWS's managed policies): on a busy machine that takes a while.
MOTO_RESET_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server per test process, on a loopback port, reached over real HTTP."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per call is noise
    # AWS's managed policies (AmazonEKSClusterPolicy…) exist in every account; moto loads them only when asked.
    loading = os.environ.get(MOTO_MANAGED_POLICIES)
    os.environ[MOTO_MANAGED_POLICIES] = "true"
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    if loading is None:
        os.environ.pop(MOTO_MANAGED_POLICIES, None)
    else:
        os.environ[MOTO_MANAGED_POLICIES] = loading


def sandbox_harness(state_dir: Path) -> CloudHarness:
    """The sandbox driver with a fresh state directory."""
    sleeps: list[float] = []
    driver = SandboxCloudDriver(
        state_dir, account=ACCOUNT, region=REGION, retry_policy=TEST_RETRIES, sleep=sleeps.append
    )

    def count_networks(name: str) -> int:
        with driver._state() as state:
            return sum(1 for record in state.get("networks", {}).values() if record["name"] == name)

    def count_keys(alias: str) -> int:
        with driver._state() as state:
            return sum(1 for record in state.get("keys", {}).values() if record["name"] == alias)

    return CloudHarness(
        name="sandbox",
        driver=driver,
        fail_next=driver.inject_fault,
        put_object=driver.put_object,
        count_networks=count_networks,
        count_keys=count_keys,
        seed_costs=lambda start, end, tag, value, service: None,  # the sandbox bills what exists
        sleeps=sleeps,
    )


def aws_harness(endpoint: str) -> CloudHarness:
    """The AWS driver pointed at moto, after resetting moto's state."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=MOTO_RESET_SECONDS).raise_for_status()
    sleeps: list[float] = []
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    driver = AwsCloudDriver(
        AwsCredentials(role_arn=f"arn:aws:iam::{ACCOUNT}:role/portal", external_id="portal-test", region=REGION),
        base_session=base,
        endpoint_url=endpoint,
        retry_policy=TEST_RETRIES,
        sleep=sleeps.append,
    )
    aws_rules.enforce(driver, endpoint)

    def fail_next(step: str, error: type[errors.ProviderError], times: int) -> None:
        code, status = AWS_ERROR_CODES[error]
        remaining = [times]

        def refuse(model: Any, **_: Any) -> None:
            if remaining[0] > 0:
                remaining[0] -= 1
                answer = {
                    "Error": {"Code": code, "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                }
                raise ClientError(answer, model.name)

        driver.on(f"before-call.{AWS_OPERATIONS[step]}", refuse)

    def count_networks(name: str) -> int:
        tagged = [{"Name": f"tag:{NAME_TAG}", "Values": [name]}]
        return len(driver.client("ec2").describe_vpcs(Filters=tagged)["Vpcs"])

    def count_keys(alias: str) -> int:
        kms = driver.client("kms")
        return sum(
            1
            for key in kms.list_keys()["Keys"]
            if {"TagKey": ALIAS_TAG, "TagValue": alias} in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
        )

    def seed_costs(start: date, end: date, tag: str, value: str, service: str) -> None:
        days = [start + timedelta(days=offset) for offset in range((end - start).days)]
        result: dict[str, Any] = {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                    "Total": {},
                    "Groups": [
                        {
                            "Keys": [service, f"{tag}${value}"],
                            "Metrics": {"UnblendedCost": {"Amount": "0.2300000001", "Unit": "USD"}},
                        },
                        {"Keys": [service, f"{tag}$"], "Metrics": {"UnblendedCost": {"Amount": "1.5", "Unit": "USD"}}},
                    ],
                    "Estimated": False,
                }
                for day in days
            ]
        }
        answer = requests.post(
            f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
            json={"results": [result], "account_id": ACCOUNT},
            timeout=10,
        )
        answer.raise_for_status()

    return CloudHarness(
        name="aws",
        driver=driver,
        fail_next=fail_next,
        put_object=lambda bucket, key, body: driver.client("s3").put_object(Bucket=bucket, Key=key, Body=body),
        count_networks=count_networks,
        count_keys=count_keys,
        seed_costs=seed_costs,
        sleeps=sleeps,
    )


def azure_harness() -> CloudHarness:
    """The Azure driver over a fresh in-memory Azure (its HTTP transport), polling without waiting."""
    fake = FakeAzure(AZURE_SUBSCRIPTION, AZURE_TENANT)
    sleeps: list[float] = []
    driver = AzureCloudDriver(
        FakeCredential(AZURE_TENANT),
        AZURE_SUBSCRIPTION,
        location=AZURE_LOCATION,
        resource_group=AZURE_RESOURCE_GROUP,
        transport=fake.transport(),
        retry_policy=TEST_RETRIES,
        sleep=sleeps.append,
        polling_interval=0,
    )

    def fail_next(step: str, error: type[errors.ProviderError], times: int) -> None:
        method, resource_type, when = AZURE_OPERATIONS[step]
        retry_after = 1.0 if error is errors.Throttled else None
        fake.fail_next(method, resource_type, AZURE_STATUS[error], times, retry_after=retry_after, when=when)

    def count(resource_type: str, name: str) -> int:
        return sum(
            1
            for resource in fake.resources.values()
            if resource["type"] == resource_type and resource.get("tags", {}).get(NAME_TAG) == name
        )

    def put_object(bucket: str, key: str, body: bytes) -> None:
        fake.put_blob(storage_account_name(AZURE_SUBSCRIPTION, bucket), container_name(bucket), key, body)

    def seed_costs(start: date, end: date, tag: str, value: str, service: str) -> None:
        for offset in range((end - start).days):
            day = start + timedelta(days=offset)
            fake.seed_cost(day, service, AZURE_LOCATION, {tag: value}, "0.2300000001")
            fake.seed_cost(day, service, AZURE_LOCATION, {}, "1.5")

    return CloudHarness(
        name="azure",
        driver=driver,
        fail_next=fail_next,
        put_object=put_object,
        count_networks=lambda name: count("Microsoft.Network/virtualNetworks", name),
        count_keys=lambda alias: count("Microsoft.KeyVault/vaults/keys", alias),
        seed_costs=seed_costs,
        sleeps=sleeps,
        inputs=AZURE_INPUTS,
        backend=fake,
    )
