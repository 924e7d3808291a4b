"""The whole region build-out through the real cloud drivers: AWS over HTTP to a moto server, Azure through
azure-core's transport to the in-memory Azure of the driver tests; the plan is what was built.

Kubernetes has no API server here (no kube-apiserver installs on these
machines), so the namespaces go to the sandbox cluster; everything the cloud
builds goes through the AWS or Azure driver, across the region and its DR
partner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.utils import timezone

from providers import errors
from providers.aws.cloud import AwsCloudDriver
from providers.azure.cloud import AzureCloudDriver
from providers.cloud import CloudDriver
from providers.sandbox.cluster import SandboxClusterDriver
from regions import drivers, services, workflows
from regions.choices import RegionRequestStatus, RegionStatus, ResourceStatus
from regions.models import CloudAccount, Cluster, Namespace, NodePool, Region, RegionRequest, RegionResource
from regions.plan import SPEC_NAMESPACES, region_plan
from tests.environments.test_provisioning_workflow import full_plan, provision
from tests.providers import aws_rules
from tests.providers.azure_fake import AKS_RBAC_CLUSTER_ADMIN, PORTAL_PRINCIPAL, FakeAzure, FakeCredential
from tests.providers.conftest_cloud import (
    ACCOUNT,
    AZURE_SUBSCRIPTION,
    AZURE_TENANT,
    MOTO_RESET_SECONDS,
    TEST_RETRIES,
    FakeEksAddons,
    moto_driver,
    moto_endpoint,
)
from tests.regions.test_region_build import (
    admin,
    approve,
    build,
    built_records,
    planned,
    request_region,
    run_to_the_end,
)
from workflows import engine
from workflows.models import Run, RunStatus, Step, StepStatus

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

pytestmark = pytest.mark.django_db


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Clusters the build-out registers are reached through the sandbox cluster driver."""
    directory = tmp_path / "clusters"

    def cluster_driver(cluster: Cluster) -> SandboxClusterDriver:
        return SandboxClusterDriver(directory / cluster.region.code, cluster.name)

    monkeypatch.setattr(workflows, "cluster_driver", cluster_driver)
    return directory


def namespaces_in(directory: Path, code: str, cluster: str) -> list[str]:
    return sorted(
        item["metadata"]["name"] for item in SandboxClusterDriver(directory / code, cluster).objects("Namespace")
    )


# --- AWS (moto) --------------------------------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, demo: None, kube: Path) -> Iterator[dict[str, Any]]:
    """The AWS driver on moto, one per region, as the workflow asks for them; refused what AWS refuses, and what
    was built is checked against what AWS needs to run it."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=MOTO_RESET_SECONDS).raise_for_status()
    drivers: dict[str, AwsCloudDriver] = {}
    addons = FakeEksAddons()

    def cloud_driver(account: CloudAccount, region_code: str) -> CloudDriver:
        if region_code not in drivers:
            drivers[region_code] = moto_driver(moto_endpoint, region_code, lambda seconds: None, addons)
        return drivers[region_code]

    monkeypatch.setattr(workflows, "cloud_driver", cloud_driver)
    yield {
        "driver": lambda code: cloud_driver(CloudAccount.objects.get(provider="aws"), code),
        "kube": kube,
        "addons": addons,
    }
    for driver in drivers.values():
        aws_rules.verify_state(driver)


def test_the_whole_build_out_on_aws_makes_what_the_plan_says(aws: dict[str, Any]) -> None:
    request = approve(request_region())

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert built_records(request) == planned(request)
    cloud = aws["driver"]("eu-south-1")
    names = {item.kind: item.name for item in region_plan(request).resources}
    network = cloud.describe_network(names["network"])
    assert sum(1 for subnet in network.subnets if not subnet.public) == 2
    assert network.nat_gateway_ids
    key = cloud.describe_key(names["key"])
    assert key.enabled
    cluster = cloud.describe_kubernetes_cluster("eks-eu-south-1")
    pools = {pool.name: pool for pool in cluster.node_pools}
    assert sorted(pools) == ["general", "gpu", "highcpu"]
    assert (pools["highcpu"].spot, pools["general"].spot, pools["gpu"].instance_type) == (True, False, "g5.xlarge")
    database = cloud.describe_database(names["database"])
    assert (database.backup_retention_days, database.encrypted) == (14, True)
    assert database.latest_restorable_time is not None
    assert database.replica is not None
    assert database.replica.region == "eu-west-3"
    assert cloud.describe_cache(names["cache"]).status == "available"
    bucket = cloud.describe_bucket(names["bucket"])
    assert (bucket.versioning, bucket.replication_target_bucket, bucket.cold_storage_after_days) == (
        True,
        f"{names['bucket']}-dr",
        90,
    )
    assert aws["driver"]("eu-west-3").describe_bucket(f"{names['bucket']}-dr").region == "eu-west-3"
    assert namespaces_in(aws["kube"], "eu-south-1", "eks-eu-south-1") == sorted(SPEC_NAMESPACES)
    region = Region.objects.get(provider="aws", code="eu-south-1")
    assert region.status == RegionStatus.ACTIVE
    assert region.dr_partner is not None
    assert region.dr_partner.code == "eu-west-3"
    registered = Cluster.objects.get(region=region)
    assert registered.api_endpoint == cluster.endpoint
    assert NodePool.objects.filter(cluster=registered).count() == 3
    assert Namespace.objects.filter(cluster=registered).count() == len(SPEC_NAMESPACES)
    # What the region's status page reads: every resource with the cloud's id.
    arn = RegionResource.objects.get(request=request, kind="database").provider_id
    assert arn.startswith("arn:aws:rds:eu-south-1:")


def test_an_aws_build_places_its_zones_nat_gateways_and_data_services_as_aws_needs(aws: dict[str, Any]) -> None:
    request = approve(request_region())

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    names = {item.kind: item.name for item in region_plan(request).resources}
    cloud = aws["driver"]("eu-south-1")
    ec2 = cloud.client("ec2")
    network = RegionResource.objects.get(request=request, kind="network")
    offered = [zone["ZoneId"] for zone in ec2.describe_availability_zones()["AvailabilityZones"]]
    # The network step chose two zone ids from those the account offers and recorded them.
    assert network.settings["zone_ids"] == sorted(offered)[:2]
    vpc_id = network.provider_id
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    private = {
        subnet["SubnetId"]: subnet["AvailabilityZoneId"]
        for subnet in subnets
        if {"Key": "portal:tier", "Value": "private"} in subnet["Tags"]
    }
    nat_zone = {
        gateway["NatGatewayId"]: next(s["AvailabilityZoneId"] for s in subnets if s["SubnetId"] == gateway["SubnetId"])
        for gateway in ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    }
    assert sorted(nat_zone.values()) == sorted(private.values())  # one NAT gateway per zone
    for subnet_id, zone_id in private.items():
        table = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])[
            "RouteTables"
        ][0]
        default = next(route for route in table["Routes"] if route.get("DestinationCidrBlock") == "0.0.0.0/0")
        assert nat_zone[default["NatGatewayId"]] == zone_id, "a private subnet routes through another zone's NAT"
    # The database and the cache are in the VPC's private subnets, reachable on their port from the VPC only.
    cidr = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    instance = cloud.client("rds").describe_db_instances(DBInstanceIdentifier=names["database"])["DBInstances"][0]
    assert instance["DBSubnetGroup"]["VpcId"] == vpc_id
    assert {subnet["SubnetIdentifier"] for subnet in instance["DBSubnetGroup"]["Subnets"]} == set(private)
    assert instance["PubliclyAccessible"] is False
    cache_group = cloud.client("elasticache").describe_cache_subnet_groups()["CacheSubnetGroups"][0]
    assert (cache_group["VpcId"], {subnet["SubnetIdentifier"] for subnet in cache_group["Subnets"]}) == (
        vpc_id,
        set(private),
    )
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    ingress = {
        group["GroupName"]: [
            (permission["FromPort"], [item["CidrIp"] for item in permission["IpRanges"]])
            for permission in group["IpPermissions"]
        ]
        for group in groups
        if group["GroupName"] != "default"
    }
    assert ingress == {f"{names['database']}-access": [(5432, [cidr])], f"{names['cache']}-access": [(6379, [cidr])]}
    assert [group["VpcSecurityGroupId"] for group in instance["VpcSecurityGroups"]] == [
        next(group["GroupId"] for group in groups if group["GroupName"] == f"{names['database']}-access")
    ]
    # The replica in the partner is in the DR network's private subnets there, reachable from that network only.
    partner = aws["driver"]("eu-west-3")
    dr_network = RegionResource.objects.get(request=request, kind="dr_network")
    dr_cidr = partner.client("ec2").describe_vpcs(VpcIds=[dr_network.provider_id])["Vpcs"][0]["CidrBlock"]
    replica = partner.client("rds").describe_db_instances(DBInstanceIdentifier=names["database_replica"])[
        "DBInstances"
    ][0]
    assert replica["DBSubnetGroup"]["VpcId"] == dr_network.provider_id
    assert replica["PubliclyAccessible"] is False
    [replica_group] = partner.client("ec2").describe_security_groups(
        GroupIds=[group["VpcSecurityGroupId"] for group in replica["VpcSecurityGroups"]]
    )["SecurityGroups"]
    assert [(item["FromPort"], [r["CidrIp"] for r in item["IpRanges"]]) for item in replica_group["IpPermissions"]] == [
        (5432, [dr_cidr])
    ]
    # The namespaces' default-deny policies are enforced: the VPC CNI add-on runs with network policy on.
    cluster = cloud.describe_kubernetes_cluster(names["cluster"])
    assert (cluster.network_policy, cluster.network_policy_status) == ("vpc-cni v1.18.3-eksbuild.1", "active")
    assert RegionResource.objects.get(request=request, kind="cluster").settings["network_policy"] == (
        "vpc-cni v1.18.3-eksbuild.1"
    )
    addon = cloud.client("eks").describe_addon(clusterName=names["cluster"], addonName="vpc-cni")["addon"]
    assert json.loads(addon["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_an_environments_database_and_cache_on_a_built_aws_region_sit_beside_its_cluster(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RDS and ElastiCache given no subnet group go to the account's default VPC (or fail where there is none): an
    environment's add-ons go into the subnets and VPC its cluster's nodes run in."""
    request = approve(request_region())
    assert build(request).status == RunStatus.SUCCEEDED
    cluster = Cluster.objects.select_related("region__account").get(region__code="eu-south-1")
    monkeypatch.setattr(drivers, "cloud_driver_for", lambda region: aws["driver"](region.code))
    monkeypatch.setattr(
        drivers, "cluster_driver_for", lambda cluster: SandboxClusterDriver(aws["kube"] / "env", cluster.name)
    )

    run = provision(full_plan(cluster))

    assert run.status == RunStatus.SUCCEEDED, run.error
    cloud = aws["driver"]("eu-south-1")
    eks = cloud.describe_kubernetes_cluster(cluster.name)
    instance = cloud.client("rds").describe_db_instances(DBInstanceIdentifier="env-tests-42-payments-preview-db")
    group = instance["DBInstances"][0]["DBSubnetGroup"]
    assert group["VpcId"] == eks.network_id
    assert sorted(subnet["SubnetIdentifier"] for subnet in group["Subnets"]) == sorted(eks.subnet_ids)
    cache = cloud.client("elasticache").describe_replication_groups(
        ReplicationGroupId="env-tests-42-payments-preview-redis"
    )["ReplicationGroups"][0]
    assert cache["Status"]


def test_an_aws_build_makes_the_roles_its_services_run_as_and_hands_them_over(aws: dict[str, Any]) -> None:
    request = approve(request_region())

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    cloud = aws["driver"]("eu-south-1")
    iam = cloud.client("iam")
    roles = {item.settings["purpose"]: item.name for item in region_plan(request).resources if item.kind == "role"}
    assert roles == {
        "kubernetes_control_plane": "portal-tests-eu-south-1-eks-cluster",
        "kubernetes_nodes": "portal-tests-eu-south-1-eks-nodes",
        "bucket_replication": "portal-tests-eu-south-1-s3-replication",
    }, "names carry the installation and the region: IAM names are account-wide"
    services = {"kubernetes_control_plane": "eks", "kubernetes_nodes": "ec2", "bucket_replication": "s3"}
    arns = {}
    for purpose, name in roles.items():
        role = iam.get_role(RoleName=name)["Role"]
        arns[purpose] = role["Arn"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": f"{services[purpose]}.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
        assert {tag["Key"]: tag["Value"] for tag in role["Tags"]}["portal:region-request"] == str(request.pk)
    attached = {
        purpose: sorted(
            policy["PolicyName"] for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        )
        for purpose, name in roles.items()
    }
    assert attached == {
        "kubernetes_control_plane": ["AmazonEKSClusterPolicy"],
        "kubernetes_nodes": ["AmazonEC2ContainerRegistryReadOnly", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"],
        "bucket_replication": [],
    }
    # The services were handed the roles the build made, not names nothing creates.
    eks = cloud.client("eks")
    assert eks.describe_cluster(name="eks-eu-south-1")["cluster"]["roleArn"] == arns["kubernetes_control_plane"]
    for pool in ("general", "highcpu", "gpu"):
        group = eks.describe_nodegroup(clusterName="eks-eu-south-1", nodegroupName=pool)["nodegroup"]
        assert group["nodeRole"] == arns["kubernetes_nodes"]
    names = {item.kind: item.name for item in region_plan(request).resources}
    replication = cloud.client("s3").get_bucket_replication(Bucket=names["bucket"])["ReplicationConfiguration"]
    assert replication["Role"] == arns["bucket_replication"]
    # The replication role reads the bucket and writes its DR copy, and nothing else.
    policy = iam.get_role_policy(RoleName=roles["bucket_replication"], PolicyName="portal-bucket-replication")
    statements = {statement["Sid"]: statement for statement in policy["PolicyDocument"]["Statement"]}
    assert statements["ReadSourceVersions"]["Resource"] == [f"arn:aws:s3:::{names['bucket']}/*"]
    assert statements["WriteTargetReplicas"]["Resource"] == [f"arn:aws:s3:::{names['bucket']}-dr/*"]
    home_key = cloud.describe_key(names["key"]).arn
    dr_key = aws["driver"]("eu-west-3").describe_key(names["key"]).arn
    assert statements["DecryptSource"]["Resource"] == [home_key]
    assert statements["DecryptSource"]["Condition"]["StringLike"]["kms:ViaService"] == "s3.eu-south-1.amazonaws.com"
    assert statements["EncryptReplicas"]["Resource"] == [dr_key]
    assert statements["EncryptReplicas"]["Condition"]["StringLike"]["kms:ViaService"] == "s3.eu-west-3.amazonaws.com"


def test_an_aws_build_encrypts_with_rotated_keys_of_its_own_in_the_region_and_its_dr_partner(
    aws: dict[str, Any],
) -> None:
    request = approve(request_region())
    replications: list[dict[str, Any]] = []
    aws["driver"]("eu-south-1").on(
        "before-parameter-build.s3.PutBucketReplication", lambda params, **_: replications.append(params)
    )

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    names = {item.kind: item.name for item in region_plan(request).resources}
    home, partner = aws["driver"]("eu-south-1"), aws["driver"]("eu-west-3")
    keys = {code: driver.describe_key(names["key"]) for code, driver in (("eu-south-1", home), ("eu-west-3", partner))}
    assert keys["eu-south-1"].arn.startswith("arn:aws:kms:eu-south-1:")
    assert keys["eu-west-3"].arn.startswith("arn:aws:kms:eu-west-3:")
    for code, driver in (("eu-south-1", home), ("eu-west-3", partner)):
        kms = driver.client("kms", code)
        assert kms.get_key_rotation_status(KeyId=keys[code].id)["KeyRotationEnabled"]
        policy = json.loads(kms.get_key_policy(KeyId=keys[code].id, PolicyName="default")["Policy"])
        by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
        assert by_sid["AccountAdministersThroughIam"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
        assert by_sid["PortalUsesThroughServices"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:role/portal"}
        assert by_sid["PortalUsesThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"] == [
            f"rds.{code}.amazonaws.com",
            f"s3.{code}.amazonaws.com",
            f"eks.{code}.amazonaws.com",
        ]
    # Kubernetes secrets are envelope-encrypted with the region's key.
    cluster = home.client("eks").describe_cluster(name=names["cluster"])["cluster"]
    assert cluster["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": keys["eu-south-1"].arn}}]
    # Both buckets are SSE-KMS with their region's key; replication carries KMS-encrypted objects over.
    for driver, bucket, key in (
        (home, names["bucket"], keys["eu-south-1"]),
        (partner, f"{names['bucket']}-dr", keys["eu-west-3"]),
    ):
        rule = driver.client("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key.arn}
        assert rule["BucketKeyEnabled"] is True
    (rule,) = replications[0]["ReplicationConfiguration"]["Rules"]  # moto keeps neither part of the rule
    assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    assert rule["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": keys["eu-west-3"].arn}
    # The read replica in the partner is encrypted with the partner's key (the source's would not work there).
    replica = partner.client("rds", "eu-west-3").describe_db_instances(
        DBInstanceIdentifier=f"{names['database']}-replica"
    )
    assert replica["DBInstances"][0]["KmsKeyId"] == keys["eu-west-3"].arn


def test_an_aws_build_that_fails_at_its_last_step_rolled_back_leaves_nothing_in_either_region(
    aws: dict[str, Any],
) -> None:
    request = approve(request_region())
    run = services.build_run(request)
    assert run is not None
    # The last namespace's step fails for good: every cloud resource and the inventory were made before it.
    last = run.steps.order_by("position").last()
    assert last is not None
    last.params = {**last.params, "settings": {**last.params["settings"], "cluster": "no-such"}}
    last.save(update_fields=["params"])
    failed = run_to_the_end(run)
    assert failed.status == RunStatus.FAILED
    assert aws["driver"]("eu-south-1").describe_database("portal-eu-south-1-db").replica is not None

    services.region_build_rollback(actor=admin(), request_id=request.pk)
    undone = run_to_the_end(failed.undo_runs.get())

    assert undone.status == RunStatus.SUCCEEDED, undone.error
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.ROLLED_BACK
    cloud = aws["driver"]("eu-south-1")
    names = {item.kind: item.name for item in region_plan(request).resources}
    for describe, name in (
        (cloud.describe_network, names["network"]),
        (cloud.describe_kubernetes_cluster, names["cluster"]),
        (cloud.describe_database, names["database"]),
        (cloud.describe_bucket, names["bucket"]),
        (aws["driver"]("eu-west-3").describe_bucket, f"{names['bucket']}-dr"),
        (cloud.describe_key, names["key"]),
        (aws["driver"]("eu-west-3").describe_key, names["key"]),
        *((cloud.describe_role, item.name) for item in region_plan(request).resources if item.kind == "role"),
    ):
        with pytest.raises(errors.NotFound):
            describe(name)
    assert not [
        role["RoleName"] for role in cloud.client("iam").list_roles()["Roles"] if "eu-south-1" in role["RoleName"]
    ]
    assert not Region.objects.filter(code="eu-south-1").exists()
    assert not RegionResource.objects.filter(request=request, status=ResourceStatus.CREATED).exists()
    assert namespaces_in(aws["kube"], "eu-south-1", "eks-eu-south-1") == []
    # Nothing the build placed its data services in is left: subnet groups, security groups, addresses.
    assert cloud.client("rds").describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert cloud.client("elasticache").describe_cache_subnet_groups()["CacheSubnetGroups"] == []
    ec2 = cloud.client("ec2")
    assert [group["GroupName"] for group in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
    assert ec2.describe_addresses()["Addresses"] == []


# --- Azure (the transport fake) -----------------------------------------------------------------------------------


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch, demo: None, kube: Path) -> dict[str, Any]:
    """The Azure driver on one in-memory subscription, one driver per location."""
    fake = FakeAzure(AZURE_SUBSCRIPTION, AZURE_TENANT)
    drivers: dict[str, AzureCloudDriver] = {}

    def cloud_driver(account: CloudAccount, region_code: str) -> CloudDriver:
        if region_code not in drivers:
            drivers[region_code] = AzureCloudDriver(
                FakeCredential(AZURE_TENANT),
                AZURE_SUBSCRIPTION,
                location=region_code,
                resource_group=f"platform-portal-{region_code}",
                transport=fake.transport(),
                retry_policy=TEST_RETRIES,
                sleep=lambda seconds: None,
                polling_interval=0,
            )
        return drivers[region_code]

    monkeypatch.setattr(workflows, "cloud_driver", cloud_driver)
    sandbox_cluster = workflows.cluster_driver

    def cluster_driver(cluster: Cluster) -> Any:
        """AKS with Azure RBAC and no local accounts: the portal's calls into the cluster need its role there."""
        found = [
            resource
            for resource in fake.resources.values()
            if resource["type"] == "Microsoft.ContainerService/managedClusters" and resource["name"] == cluster.name
        ]
        if not found or not fake.has_role(found[0]["id"], AKS_RBAC_CLUSTER_ADMIN, PORTAL_PRINCIPAL):
            raise errors.PermissionDenied(
                f"Forbidden: the portal's identity has no Azure RBAC role on {cluster.name} (namespaces is forbidden)"
            )
        return sandbox_cluster(cluster)

    monkeypatch.setattr(workflows, "cluster_driver", cluster_driver)
    return {"fake": fake, "driver": lambda code: cloud_driver(CloudAccount.objects.get(provider="azure"), code)}


def azure_request() -> RegionRequest:
    return request_region(
        provider="azure",
        code="francecentral",
        dr_partner_code="germanywestcentral",
        account=CloudAccount.objects.get(provider="azure"),
    )


def test_the_whole_build_out_on_azure_makes_what_the_plan_says(azure: dict[str, Any], kube: Path) -> None:
    request = approve(azure_request())

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert built_records(request) == planned(request)
    cloud = azure["driver"]("francecentral")
    names = {item.kind: item.name for item in region_plan(request).resources}
    assert names["cluster"] == "aks-francecentral"
    cluster = cloud.describe_kubernetes_cluster(names["cluster"])
    assert sorted(pool.name for pool in cluster.node_pools) == ["general", "gpu", "highcpu"]
    database = cloud.describe_database(names["database"])
    assert database.backup_retention_days == 14
    assert database.replica is not None
    assert database.replica.region == "germanywestcentral"
    bucket = cloud.describe_bucket(names["bucket"])
    assert (bucket.versioning, bucket.replication_target_bucket, bucket.cold_storage_after_days) == (
        True,
        f"{names['bucket']}-dr",
        90,
    )
    assert cloud.describe_key(names["key"]).enabled
    assert namespaces_in(kube, "francecentral", "aks-francecentral") == sorted(SPEC_NAMESPACES)
    region = Region.objects.get(provider="azure", code="francecentral")
    assert region.status == RegionStatus.ACTIVE
    assert region.dr_partner is not None
    assert region.dr_partner.code == "germanywestcentral"


def test_an_azure_build_gives_the_portal_the_cluster_role_its_namespace_steps_need(azure: dict[str, Any]) -> None:
    fake: FakeAzure = azure["fake"]
    request = approve(azure_request())

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    cluster = azure["driver"]("francecentral").describe_kubernetes_cluster("aks-francecentral")
    assert fake.has_role(cluster.id, AKS_RBAC_CLUSTER_ADMIN, PORTAL_PRINCIPAL)
    profile = next(
        resource["properties"]["networkProfile"]
        for resource in fake.resources.values()
        if resource["type"] == "Microsoft.ContainerService/managedClusters"
    )
    assert (profile["networkPolicy"], profile["networkDataplane"]) == ("cilium", "cilium")


def test_azure_databases_and_caches_are_reached_only_through_private_endpoints(azure: dict[str, Any]) -> None:
    fake: FakeAzure = azure["fake"]
    request = approve(azure_request())

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    names = {item.kind: item.name for item in region_plan(request).resources}
    network = azure["driver"]("francecentral").describe_network(names["network"])
    private = {subnet.id for subnet in network.subnets if not subnet.public}
    dr_network = azure["driver"]("germanywestcentral").describe_network(names["dr_network"])
    endpoints = {
        resource["name"]: resource
        for resource in fake.resources.values()
        if resource["type"] == "Microsoft.Network/privateEndpoints"
    }
    replica_endpoint = endpoints.pop(f"{names['database_replica']}-pe")
    assert sorted(endpoints) == sorted([f"{names['database']}-pe", f"{names['cache']}-pe"])
    assert all(endpoint["properties"]["subnet"]["id"] in private for endpoint in endpoints.values())
    # The replica in the partner is reached from the partner's DR network only, through an endpoint there.
    assert replica_endpoint["location"] == "germanywestcentral"
    assert replica_endpoint["properties"]["subnet"]["id"] in {subnet.id for subnet in dr_network.subnets}
    for resource in fake.resources.values():
        if resource["type"] == "Microsoft.Cache/redis":
            assert resource["properties"]["publicNetworkAccess"] == "Disabled"
        if resource["type"] == "Microsoft.DBforPostgreSQL/flexibleServers":
            assert resource["properties"]["network"]["publicNetworkAccess"] == "Disabled"


def test_an_azure_build_rolled_back_waits_for_each_delete_between_looks_and_leaves_nothing(
    azure: dict[str, Any],
) -> None:
    fake: FakeAzure = azure["fake"]
    request = approve(azure_request())
    run = services.build_run(request)
    assert run is not None
    last = run.steps.order_by("position").last()
    assert last is not None
    last.params = {**last.params, "settings": {**last.params["settings"], "cluster": "no-such"}}
    last.save(update_fields=["params"])
    failed = run_to_the_end(run)
    assert failed.status == RunStatus.FAILED

    services.region_build_rollback(actor=admin(), request_id=request.pk)
    undo = failed.undo_runs.get()
    waits: list[str] = []
    for _ in range(200):
        engine.advance(undo.pk)
        undo.refresh_from_db()
        waits += [step.note for step in undo.steps.filter(status=StepStatus.WAITING)]
        if not undo.is_active:
            break
        Run.objects.filter(pk=undo.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    assert undo.status == RunStatus.SUCCEEDED, undo.error
    # Azure's deletes were started and looked at again later: no worker waited on them.
    assert any(note.startswith("the cluster is") for note in waits)
    left = sorted(
        (resource["type"], resource["properties"]["provisioningState"])
        for resource in fake.resources.values()
        if not resource["type"].startswith("Microsoft.Network/privateDnsZones")
        and resource["type"] != "Microsoft.KeyVault/vaults"
    )
    # The rollback counts a cache Azure is deleting as gone (nothing more is asked of it); Azure finishes it.
    assert left in ([], [("Microsoft.Cache/redis", "Deleting")])


def test_a_small_azure_database_with_a_replica_is_planned_general_purpose(azure: dict[str, Any]) -> None:
    request = azure_request_with(database_size="small")
    with_replica = region_plan(request)
    request.database_replica = False
    without = region_plan(request)

    database = next(item for item in with_replica.resources if item.kind == "database")
    assert database.settings["instance_class"] == "Standard_D2ds_v5"
    assert "General Purpose" in database.cost_note
    alone = next(item for item in without.resources if item.kind == "database")
    assert alone.settings["instance_class"] == "Standard_B2s"


def azure_request_with(**changes: Any) -> RegionRequest:
    fields: dict[str, Any] = {
        "provider": "azure",
        "code": "francecentral",
        "dr_partner_code": "germanywestcentral",
        "account": CloudAccount.objects.get(provider="azure"),
        **changes,
    }
    return request_region(**fields)


def test_a_small_azure_database_with_a_replica_is_built_and_replicated(azure: dict[str, Any]) -> None:
    request = approve(azure_request_with(database_size="small"))

    run = build(request)

    assert run.status == RunStatus.SUCCEEDED, run.error
    database = azure["driver"]("francecentral").describe_database(
        next(item.name for item in region_plan(request).resources if item.kind == "database")
    )
    assert database.replica is not None
    assert database.replica.lag_seconds is not None


def test_azure_data_is_encrypted_with_platform_keys_and_the_plan_says_so(azure: dict[str, Any]) -> None:
    plan = region_plan(azure_request())

    # The Azure driver refuses customer-managed keys for PostgreSQL and Blob (they need a user-assigned identity).
    by_kind = {item.kind: item for item in plan.resources}
    assert by_kind["database"].settings["encrypted_with_key"] == ""
    assert by_kind["bucket"].settings["encrypted_with_key"] == ""
    assert "key" in by_kind, "the key is still made, for the workloads that use it"


def puts_to(fake: FakeAzure, fragment: str) -> int:
    return sum(1 for method, url in fake.requests if method == "PUT" and url.split("?")[0].endswith(fragment))


def test_an_azure_build_waits_for_each_long_create_between_looks_and_sends_each_put_once(
    azure: dict[str, Any],
) -> None:
    fake: FakeAzure = azure["fake"]
    request = approve(azure_request())
    run = services.build_run(request)
    assert run is not None
    names = {item.kind: item.name for item in region_plan(request).resources}
    cluster_step = Step.objects.get(run=run, action="cluster")
    notes: list[str] = []

    for _ in range(80):
        engine.advance(run.pk)
        run.refresh_from_db()
        cluster_step.refresh_from_db()
        if cluster_step.status == StepStatus.WAITING:
            notes.append(cluster_step.note)
        if not run.is_active:
            break
        Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    assert run.status == RunStatus.SUCCEEDED, run.error
    # The cluster step returned while Azure built the cluster, and looked again (a worker is free meanwhile).
    assert len(notes) >= 2
    assert notes[0] == "the cluster is creating"
    assert puts_to(fake, f"/managedClusters/{names['cluster']}") == 1
    assert puts_to(fake, f"/flexibleServers/{names['database']}") == 1
    assert puts_to(fake, f"/redis/{names['cache']}") == 1


class WorkerKilled(BaseException):
    """The worker process dies: nothing after this point of the step runs, nothing is saved."""


def test_an_azure_step_whose_worker_died_after_the_put_polls_on_and_never_creates_again(
    azure: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake: FakeAzure = azure["fake"]
    request = approve(azure_request())
    run = services.build_run(request)
    assert run is not None
    cluster = region_plan(request).resources
    cluster_name = next(item.name for item in cluster if item.kind == "cluster")
    handle = fake.handle

    def die_after_the_cluster_put(sent: Any) -> Any:
        answer = handle(sent)
        if sent.method == "PUT" and sent.url.split("?")[0].endswith(f"/managedClusters/{cluster_name}"):
            monkeypatch.setattr(fake, "handle", handle)
            raise WorkerKilled
        return answer

    monkeypatch.setattr(fake, "handle", die_after_the_cluster_put)
    with pytest.raises(WorkerKilled):
        run_to_the_end(run)
    step = Step.objects.get(run=run, action="cluster")
    assert step.status == StepStatus.RUNNING  # as the dead worker left it
    Run.objects.filter(pk=run.pk).update(lease_token="", lease_expires_at=None)  # its lease ran out

    finished = run_to_the_end(run)

    assert finished.status == RunStatus.SUCCEEDED, finished.error
    assert puts_to(fake, f"/managedClusters/{cluster_name}") == 1
    assert len(resources_named(fake, "Microsoft.ContainerService/managedClusters")) == 1


def resources_named(fake: FakeAzure, resource_type: str) -> list[str]:
    return [resource["name"] for resource in fake.resources.values() if resource["type"] == resource_type]


def test_an_azure_cache_that_azure_fails_to_create_fails_its_step_with_azures_reason(azure: dict[str, Any]) -> None:
    fake: FakeAzure = azure["fake"]
    fake.fail_operation(
        "Microsoft.Cache/redis", "QuotaExceeded", "Premium caches in francecentral: the subscription's limit is 0"
    )
    request = approve(azure_request())
    cache_name = next(item.name for item in region_plan(request).resources if item.kind == "cache")

    run = build(request)

    assert run.status == RunStatus.FAILED
    step = Step.objects.get(run=run, action="cache")
    assert step.status == StepStatus.FAILED
    assert step.error_code == "QuotaExceeded"
    assert f"Redis cache {cache_name}" in step.error
    assert "the subscription's limit is 0" in step.error
    assert "{" not in step.error  # Azure's words, not its JSON
    assert run.error.startswith(step.name)
    assert puts_to(fake, f"/redis/{cache_name}") == 1
