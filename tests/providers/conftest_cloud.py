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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import boto3
import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from providers import errors
from providers.aws.cloud import ALIAS_TAG, NAME_TAG, ROLE_MANAGED_POLICIES, AwsCloudDriver
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


def gone(describe: Callable[[], object], looks: int = 30) -> None:
    """Describe a deleted resource until the cloud says NotFound, as a workflow's undo step does between waits.

    The Azure driver starts long deletes and returns (the fake finishes them
    after a few looks); AWS on moto and the sandbox delete at once.
    """
    for _ in range(looks):
        try:
            describe()
        except errors.NotFound:
            return
    raise AssertionError(f"still there after {looks} looks")


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
# moto's own machine images, which nothing here launches.
MOTO_DEFAULT_AMIS = "MOTO_EC2_LOAD_DEFAULT_AMIS"
# A reset rebuilds every backend in use: on a busy machine that takes a while.
MOTO_RESET_SECONDS = 60


def _only_the_managed_policies_the_portal_attaches() -> None:
    """AWS's managed policies exist in every account, so moto loads them into each IAM backend it builds (after
    every reset): a 4.7 MB document parsed into some 1,300 policies, a second or more each time. The portal
    attaches a handful (:data:`~providers.aws.cloud.ROLE_MANAGED_POLICIES`): moto here holds those, as AWS
    publishes them, and no other (attaching one not in that list is refused as a missing policy)."""
    import json

    from moto.iam import aws_managed_policies
    from moto.iam import models as iam_models

    attached = {name for names in ROLE_MANAGED_POLICIES.values() for name in names}
    published = json.loads(aws_managed_policies.aws_managed_policies_data)
    # The IAM models read the document through the name they imported it under.
    iam_models.aws_managed_policies_data = json.dumps(  # type: ignore[attr-defined]
        {name: published[name] for name in sorted(attached)}
    )


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
    saved = {name: os.environ.get(name) for name in (MOTO_MANAGED_POLICIES, MOTO_DEFAULT_AMIS)}
    os.environ[MOTO_MANAGED_POLICIES] = "true"
    os.environ[MOTO_DEFAULT_AMIS] = "false"
    _only_the_managed_policies_the_portal_attaches()
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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


# vpc-cni versions the fake EKS offers, and the default for every Kubernetes version.
VPC_CNI_VERSIONS = ("v1.12.6-eksbuild.2", "v1.18.3-eksbuild.1", "v1.19.2-eksbuild.1")
VPC_CNI_DEFAULT = "v1.18.3-eksbuild.1"


class FakeEksAddons:
    """The EKS add-on API, which moto 5.2 lacks, answered in memory for the clusters moto holds.

    Hooked into a driver's clients (botocore's ``before-call`` answers in
    place of the HTTP request). An add-on created or updated says
    ``CREATING``/``UPDATING`` to the first look and ``ACTIVE`` after, as EKS
    takes a while to roll it out.
    """

    OPERATIONS = ("CreateAddon", "DescribeAddon", "UpdateAddon", "DeleteAddon", "DescribeAddonVersions")

    def __init__(self) -> None:
        self.addons: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def install(self, driver: AwsCloudDriver) -> None:
        def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["portal_api_params"] = dict(params)

        for operation in self.OPERATIONS:
            driver.on(f"before-parameter-build.eks.{operation}", remember)
            driver.on(f"before-call.eks.{operation}", self._answer(driver))

        def cluster_deleted(context: dict[str, Any], **_: Any) -> None:
            cluster = context.get("portal_api_params", {}).get("name")
            for key in [key for key in self.addons if key[:2] == (context.get("client_region"), cluster)]:
                del self.addons[key]

        driver.on("before-parameter-build.eks.DeleteCluster", remember)
        driver.on("after-call.eks.DeleteCluster", cluster_deleted)

    @staticmethod
    def _refuse(code: str, status: int, message: str, operation: str) -> ClientError:
        answer = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(answer, operation)

    def _answer(self, driver: AwsCloudDriver) -> Callable[..., Any]:
        def answer(model: Any, context: dict[str, Any], **_: Any) -> Any:
            params = context.get("portal_api_params", {})
            region = str(context.get("client_region"))
            self.requests.append((model.name, params))
            ok = SimpleNamespace(status_code=200, headers={})
            if model.name == "DescribeAddonVersions":
                versions = [
                    {
                        "addonVersion": version,
                        "architecture": ["amd64", "arm64"],
                        "compatibilities": [
                            {
                                "clusterVersion": params.get("kubernetesVersion", ""),
                                "platformVersions": ["*"],
                                "defaultVersion": version == VPC_CNI_DEFAULT,
                            }
                        ],
                    }
                    for version in VPC_CNI_VERSIONS
                ]
                return ok, {"addons": [{"addonName": "vpc-cni", "type": "networking", "addonVersions": versions}]}
            cluster, name = params.get("clusterName", ""), params.get("addonName", "")
            # Asked of moto directly: the driver's own clients may carry injected faults.
            eks = boto3.client(
                "eks",
                region_name=region,
                endpoint_url=driver.endpoint_url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            try:
                eks.describe_cluster(name=cluster)
            except ClientError as error:
                raise self._refuse(
                    "ResourceNotFoundException", 404, f"No cluster found for name: {cluster}.", model.name
                ) from error
            key = (region, cluster, name)
            addon = self.addons.get(key)
            if model.name == "CreateAddon":
                if addon is not None:
                    raise self._refuse("ResourceInUseException", 409, "Addon already exists.", model.name)
                addon = {
                    "addonName": name,
                    "clusterName": cluster,
                    "status": "CREATING",
                    "addonVersion": params.get("addonVersion") or VPC_CNI_DEFAULT,
                    "configurationValues": params.get("configurationValues", ""),
                    "health": {"issues": []},
                    "addonArn": f"arn:aws:eks:{region}:{ACCOUNT}:addon/{cluster}/{name}/fake",
                }
                self.addons[key] = addon
                return ok, {"addon": dict(addon)}
            if addon is None:
                raise self._refuse(
                    "ResourceNotFoundException", 404, f"No addon: {name} found in cluster: {cluster}", model.name
                )
            if model.name == "DescribeAddon":
                shown = dict(addon)
                if addon["status"] in ("CREATING", "UPDATING"):
                    addon["status"] = "ACTIVE"  # rolled out by the next look
                return ok, {"addon": shown}
            if model.name == "UpdateAddon":
                addon["status"] = "UPDATING"
                addon["configurationValues"] = params.get("configurationValues", addon["configurationValues"])
                addon["addonVersion"] = params.get("addonVersion") or addon["addonVersion"]
                return ok, {"update": {"id": "update-1", "status": "InProgress", "type": "AddonUpdate"}}
            del self.addons[key]  # DeleteAddon
            return ok, {"addon": {**addon, "status": "DELETING"}}

        return answer


def fill_moto_gaps(driver: AwsCloudDriver) -> None:
    """Answer the calls moto 5.2 has not implemented, on the state of the moto server running in this process,
    find a cross-region replica's subnet group where RDS does, and finish the replication group deletes moto
    never finishes: ``DeleteCacheSubnetGroup`` (moto does not record
    which group a cache was placed in, so the refusal AWS gives for a group still in use cannot be imitated)."""
    from moto.elasticache.models import elasticache_backends
    from moto.rds.models import rds_backends

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["portal_api_params"] = dict(params)

    def delete_cache_subnet_group(model: Any, context: dict[str, Any], **_: Any) -> Any:
        name = context["portal_api_params"]["CacheSubnetGroupName"]
        backend = elasticache_backends[ACCOUNT][str(context["client_region"])]
        if name not in backend.cache_subnet_groups:
            answer = {
                "Error": {"Code": "CacheSubnetGroupNotFoundFault", "Message": f"{name} not found"},
                "ResponseMetadata": {"HTTPStatusCode": 404},
            }
            raise ClientError(answer, model.name)
        del backend.cache_subnet_groups[name]
        return SimpleNamespace(status_code=200, headers={}), {}

    def finish_deletes(context: dict[str, Any], **_: Any) -> None:
        # moto leaves a deleted replication group "deleting" for ever; ElastiCache removes it after a while.
        # Here it is gone by the look after the one that saw it deleting.
        groups = elasticache_backends[ACCOUNT][str(context["client_region"])].replication_groups
        for name in [name for name, group in groups.items() if group.status == "deleting"]:
            del groups[name]

    def lend_replica_subnet_group(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # moto 5.2 looks a cross-region replica's DBSubnetGroupName up in its source's region; RDS looks in the
        # replica's. The group of the replica's region is lent to the source's for the call.
        body = params["body"]  # the request as sent, once every check has passed
        name, source = body.get("DBSubnetGroupName"), str(body.get("SourceDBInstanceIdentifier", ""))
        region = str(context["client_region"])
        source_region = source.split(":")[3] if source.startswith("arn:") else region
        groups = rds_backends[ACCOUNT][region].subnet_groups
        if name and source_region != region and name in groups:
            lent = rds_backends[ACCOUNT][source_region].subnet_groups
            if name not in lent:
                lent[name] = groups[name]
                context["portal_lent_subnet_group"] = (source_region, name)

    def return_replica_subnet_group(context: dict[str, Any], **_: Any) -> None:
        if "portal_lent_subnet_group" in context:
            source_region, name = context.pop("portal_lent_subnet_group")
            rds_backends[ACCOUNT][source_region].subnet_groups.pop(name, None)

    driver.on("before-call.rds.CreateDBInstanceReadReplica", lend_replica_subnet_group)
    driver.on("after-call.rds.CreateDBInstanceReadReplica", return_replica_subnet_group)
    driver.on("after-call-error.rds.CreateDBInstanceReadReplica", return_replica_subnet_group)
    driver.on("before-parameter-build.elasticache.DeleteCacheSubnetGroup", remember)
    driver.on("before-call.elasticache.DeleteCacheSubnetGroup", delete_cache_subnet_group)
    driver.on("after-call.elasticache.DescribeReplicationGroups", finish_deletes)


def moto_driver(endpoint: str, region: str, sleep: Callable[[float], None], addons: FakeEksAddons) -> AwsCloudDriver:
    """An AWS driver on moto that is refused what AWS refuses (:mod:`tests.providers.aws_rules`) and has the EKS
    add-on API moto lacks."""
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    driver = AwsCloudDriver(
        AwsCredentials(role_arn=f"arn:aws:iam::{ACCOUNT}:role/portal", external_id="portal-test", region=region),
        base_session=base,
        endpoint_url=endpoint,
        retry_policy=TEST_RETRIES,
        sleep=sleep,
    )
    aws_rules.enforce(driver)
    addons.install(driver)
    fill_moto_gaps(driver)
    answer_eks_versions(driver)
    return driver


# EKS's answer to DescribeClusterVersions, in the API reference's response shape (the parsed form: botocore
# turns the epoch-seconds dates into datetimes). moto does not implement the operation, so the harness answers
# it with a botocore hook on the driver (``before-call`` returning a response skips the HTTP request).
EKS_CLUSTER_VERSIONS: list[dict[str, Any]] = [
    {
        "clusterVersion": version,
        "clusterType": "eks",
        "defaultPlatformVersion": f"eks.{platform}",
        "defaultVersion": version == "1.34",
        "releaseDate": datetime(*released, tzinfo=UTC),
        "endOfStandardSupportDate": datetime(*standard_end, tzinfo=UTC),
        "endOfExtendedSupportDate": datetime(*extended_end, tzinfo=UTC),
        "status": status.lower().replace("_", "-"),
        "versionStatus": status,
        "kubernetesPatchVersion": patch,
    }
    for version, platform, released, standard_end, extended_end, status, patch in (
        ("1.35", 2, (2026, 1, 27), (2027, 3, 27), (2028, 3, 27), "STANDARD_SUPPORT", "1.35.0"),
        ("1.34", 6, (2025, 10, 2), (2026, 12, 2), (2027, 12, 2), "STANDARD_SUPPORT", "1.34.2"),
        ("1.33", 12, (2025, 5, 29), (2026, 7, 29), (2027, 7, 29), "EXTENDED_SUPPORT", "1.33.6"),
        ("1.32", 16, (2025, 1, 23), (2026, 3, 23), (2027, 3, 23), "EXTENDED_SUPPORT", "1.32.10"),
        # What EKS on Outposts offers is listed too, under its own cluster type.
        ("1.31", 20, (2024, 9, 26), (2025, 11, 26), (2026, 11, 26), "EXTENDED_SUPPORT", "1.31.14"),
    )
]
EKS_CLUSTER_VERSIONS[-1]["clusterType"] = "eks-local-outposts"


def answer_eks_versions(driver: AwsCloudDriver, versions: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Make EKS on moto answer ``DescribeClusterVersions`` with ``versions`` (a list the test may change later)
    and refuse ``CreateCluster`` with a version it does not list, as EKS does (InvalidParameterException)."""
    offered = EKS_CLUSTER_VERSIONS if versions is None else versions

    def describe(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        answer = {"clusterVersions": [dict(item) for item in offered], "ResponseMetadata": {"HTTPStatusCode": 200}}
        return AWSResponse("https://eks.amazonaws.com/cluster-versions", 200, {}, None), answer

    def refuse_unoffered(params: dict[str, Any], model: Any, **_: Any) -> None:
        minor = ".".join(str(params.get("version", "")).split(".")[:2])
        if minor and not any(item["clusterVersion"] == minor and item["clusterType"] == "eks" for item in offered):
            answer = {
                "Error": {"Code": "InvalidParameterException", "Message": f"unsupported Kubernetes version {minor}"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            raise ClientError(answer, model.name)

    driver.on("before-call.eks.DescribeClusterVersions", describe)
    driver.on("provide-client-params.eks.CreateCluster", refuse_unoffered)
    return offered


def aws_harness(endpoint: str) -> CloudHarness:
    """The AWS driver pointed at moto, after resetting moto's state."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=MOTO_RESET_SECONDS).raise_for_status()
    sleeps: list[float] = []
    addons = FakeEksAddons()
    driver = moto_driver(endpoint, REGION, sleeps.append, addons)

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
        backend=addons,
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
