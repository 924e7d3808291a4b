"""Where the AWS driver puts things: zones chosen by zone id from what the account offers, a NAT gateway per zone,
RDS and ElastiCache in the VPC's private subnets behind their own security groups, and NetworkPolicies enforced
by the VPC CNI add-on. The driver runs on moto with the rules of :mod:`tests.providers.aws_rules`, so a request
AWS refuses is refused here too.
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from providers import errors
from providers.aws.cloud import NAME_TAG, AwsCloudDriver
from providers.cloud import CacheSpec, DatabaseSpec, KubernetesClusterSpec, NetworkSpec, Placement
from tests.providers import aws_rules
from tests.providers.conftest_cloud import (
    ACCOUNT,
    DR_REGION,
    REGION,
    CloudHarness,
    FakeEksAddons,
    aws_harness,
    moto_endpoint,
)

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

NETWORK = NetworkSpec(
    name="env-42-network",
    cidr="10.42.0.0/16",
    availability_zones=(),
    public_subnet_cidrs=("10.42.0.0/24", "10.42.1.0/24"),
    private_subnet_cidrs=("10.42.10.0/24", "10.42.11.0/24"),
    zone_count=2,
)


@pytest.fixture
def aws(moto_endpoint: str) -> CloudHarness:
    return aws_harness(moto_endpoint)


def sent(driver: AwsCloudDriver, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every ``operation`` request the driver sends from now on."""
    requests: list[dict[str, Any]] = []
    driver.on(f"before-parameter-build.{operation}", lambda params, **_: requests.append(dict(params)))
    return requests


def offer_zones(driver: AwsCloudDriver, zones: list[dict[str, str]]) -> None:
    """Make ``DescribeAvailabilityZones`` answer ``zones`` (moto offers every zone of the region, all available)."""

    def answer(**_: Any) -> Any:
        return SimpleNamespace(status_code=200, headers={}), {"AvailabilityZones": zones}

    driver.on("before-call.ec2.DescribeAvailabilityZones", answer)


def zone(name: str, zone_id: str, state: str = "available", zone_type: str = "availability-zone") -> dict[str, str]:
    opt_in = "opt-in-not-required" if zone_type == "availability-zone" else "not-opted-in"
    return {
        "ZoneName": name,
        "ZoneId": zone_id,
        "State": state,
        "ZoneType": zone_type,
        "OptInStatus": opt_in,
        "RegionName": REGION,
    }


def private_subnets(driver: AwsCloudDriver, name: str) -> dict[str, str]:
    """Private subnet id -> its zone id."""
    network = driver.describe_network(name)
    return {subnet.id: subnet.zone_id for subnet in network.subnets if not subnet.public}


def placement(driver: AwsCloudDriver) -> dict[str, Any]:
    network = driver.ensure_network(NETWORK)
    return {
        "subnet_ids": tuple(subnet.id for subnet in network.subnets if not subnet.public),
        "vpc_id": network.id,
        "allowed_cidr": network.cidr,
    }


# ---------------------------------------------------------------- zones


def test_zones_are_chosen_by_zone_id_from_those_the_account_offers(aws: CloudHarness) -> None:
    driver = aws.driver
    # This account's eu-west-1b is impaired, and a Local Zone is listed: neither is chosen.
    offer_zones(
        driver,
        [
            zone("eu-west-1a", "euw1-az3"),
            zone("eu-west-1b", "euw1-az1", state="impaired"),
            zone("eu-west-1c", "euw1-az2"),
            zone("eu-west-1-lcl-1a", "euw1-lcl1-az1", zone_type="local-zone"),
        ],
    )
    created = sent(driver, "ec2.CreateSubnet")

    network = driver.ensure_network(NETWORK)

    assert sorted({subnet.zone_id for subnet in network.subnets}) == ["euw1-az2", "euw1-az3"]
    assert [request.get("AvailabilityZoneId") for request in created] == ["euw1-az2", "euw1-az3"] * 2
    assert all("AvailabilityZone" not in request for request in created)
    # Each zone has its public and its private subnet.
    by_zone: dict[str, set[bool]] = {}
    for subnet in network.subnets:
        by_zone.setdefault(subnet.zone_id, set()).add(subnet.public)
    assert by_zone == {"euw1-az2": {True, False}, "euw1-az3": {True, False}}


def test_a_region_offering_fewer_zones_than_the_network_needs_is_refused_in_words(aws: CloudHarness) -> None:
    offer_zones(aws.driver, [zone("eu-west-1a", "euw1-az3"), zone("eu-west-1b", "euw1-az1", state="impaired")])
    created = sent(aws.driver, "ec2.CreateSubnet")

    with pytest.raises(errors.InvalidRequest) as refused:
        aws.driver.ensure_network(NETWORK)

    assert refused.value.message == (
        "eu-west-1 offers 1 availability zones to this account; the network needs 2 distinct ones"
    )
    assert created == []


def test_zones_named_by_an_older_plan_are_resolved_to_this_accounts_zone_ids(aws: CloudHarness) -> None:
    network = aws.driver.ensure_network(replace(NETWORK, availability_zones=("eu-west-1a", "eu-west-1b"), zone_count=0))

    # In moto's account, as in any one account, eu-west-1a is one physical zone: here euw1-az3.
    assert [(subnet.availability_zone, subnet.zone_id) for subnet in network.subnets if subnet.public] == [
        ("eu-west-1a", "euw1-az3"),
        ("eu-west-1b", "euw1-az1"),
    ]


# ---------------------------------------------------------------- the VPC, its subnets, NAT and routes


def test_the_vpc_resolves_dns_and_gives_hostnames_and_subnets_carry_their_load_balancer_role(
    aws: CloudHarness,
) -> None:
    modified = sent(aws.driver, "ec2.ModifyVpcAttribute")

    network = aws.driver.ensure_network(NETWORK)

    ec2 = aws.driver.client("ec2")
    for attribute, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        assert ec2.describe_vpc_attribute(VpcId=network.id, Attribute=attribute)[key]["Value"] is True
    assert all(len([key for key in request if key.startswith("Enable")]) == 1 for request in modified)
    subnets = ec2.describe_subnets(SubnetIds=[subnet.id for subnet in network.subnets])["Subnets"]
    roles = {
        subnet["CidrBlock"]: {tag["Key"]: tag["Value"] for tag in subnet["Tags"] if tag["Key"].startswith("kubernetes")}
        for subnet in subnets
    }
    assert roles == {
        "10.42.0.0/24": {"kubernetes.io/role/elb": "1"},
        "10.42.1.0/24": {"kubernetes.io/role/elb": "1"},
        "10.42.10.0/24": {"kubernetes.io/role/internal-elb": "1"},
        "10.42.11.0/24": {"kubernetes.io/role/internal-elb": "1"},
    }


def route_of(driver: AwsCloudDriver, subnet_id: str) -> str:
    table = driver.client("ec2").describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )["RouteTables"][0]
    return str(
        next(route for route in table["Routes"] if route.get("DestinationCidrBlock") == "0.0.0.0/0")["NatGatewayId"]
    )


def nat_zones(driver: AwsCloudDriver, vpc_id: str) -> dict[str, str]:
    ec2 = driver.client("ec2")
    gateways = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    subnets = {subnet["SubnetId"]: subnet for subnet in ec2.describe_subnets()["Subnets"]}
    return {gateway["NatGatewayId"]: subnets[gateway["SubnetId"]]["AvailabilityZoneId"] for gateway in gateways}


def test_each_zone_has_its_own_nat_gateway_and_its_private_subnet_routes_through_it(aws: CloudHarness) -> None:
    network = aws.driver.ensure_network(NETWORK)

    zones_of_nat = nat_zones(aws.driver, network.id)
    assert sorted(zones_of_nat.values()) == sorted({subnet.zone_id for subnet in network.subnets})
    for subnet_id, zone_id in private_subnets(aws.driver, NETWORK.name).items():
        assert zones_of_nat[route_of(aws.driver, subnet_id)] == zone_id
    # Each NAT gateway has an Elastic IP of its own.
    addresses = aws.driver.client("ec2").describe_addresses()["Addresses"]
    assert len({address["AllocationId"] for address in addresses}) == 2


def test_a_network_whose_private_subnets_share_one_nat_is_given_one_per_zone(aws: CloudHarness) -> None:
    network = aws.driver.ensure_network(NETWORK)
    ec2 = aws.driver.client("ec2")
    private = private_subnets(aws.driver, NETWORK.name)
    first_nat = route_of(aws.driver, next(iter(private)))
    # As an older build left it: one private route table, both private subnets on it, through one NAT.
    shared = ec2.create_route_table(VpcId=network.id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=shared, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=first_nat)
    for subnet_id in private:
        association = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])[
            "RouteTables"
        ][0]["Associations"]
        ec2.replace_route_table_association(
            AssociationId=next(
                item["RouteTableAssociationId"] for item in association if item.get("SubnetId") == subnet_id
            ),
            RouteTableId=shared,
        )
    assert {route_of(aws.driver, subnet_id) for subnet_id in private} == {first_nat}

    aws.driver.ensure_network(NETWORK)

    zones_of_nat = nat_zones(aws.driver, network.id)
    assert {zones_of_nat[route_of(aws.driver, subnet_id)] for subnet_id in private} == set(private.values())


def test_deleting_a_network_leaves_no_nat_gateway_address_or_route_table_behind(aws: CloudHarness) -> None:
    network = aws.driver.ensure_network(NETWORK)
    database = aws.driver.ensure_database(
        DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7, **placement(aws.driver))
    )
    aws.driver.ensure_cache(CacheSpec("env-42-redis", "cache.t4g.small", **placement(aws.driver)))
    aws.driver.delete_cache("env-42-redis")  # "deleting" for minutes: its subnet and security groups stay

    aws.driver.delete_database(database.name)
    aws.driver.delete_network(NETWORK.name)
    aws.driver.delete_network(NETWORK.name)

    ec2 = aws.driver.client("ec2")
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [network.id]}])["Vpcs"] == []
    assert ec2.describe_addresses()["Addresses"] == []
    assert ec2.describe_security_groups(Filters=[{"Name": "tag-key", "Values": [NAME_TAG]}])["SecurityGroups"] == []
    assert aws.driver.client("rds").describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert aws.driver.client("elasticache").describe_cache_subnet_groups()["CacheSubnetGroups"] == []


def test_a_nat_gateway_still_being_deleted_makes_the_network_deletion_wait(aws: CloudHarness) -> None:
    aws.driver.ensure_network(NETWORK)

    def still_deleting(parsed: dict[str, Any], **_: Any) -> None:
        for gateway in parsed.get("NatGateways", []):
            if gateway["State"] == "deleted":
                gateway["State"] = "deleting"  # AWS takes minutes; moto is done at once

    aws.driver.on("after-call.ec2.DescribeNatGateways", still_deleting)

    with pytest.raises(errors.Busy, match="being deleted"):
        aws.driver.delete_network(NETWORK.name)
    assert aws.driver.describe_network(NETWORK.name).subnets, "nothing more was deleted while the NATs go"


# ---------------------------------------------------------------- databases and caches


def test_a_database_goes_in_the_vpcs_private_subnets_reachable_from_the_vpc_only(aws: CloudHarness) -> None:
    where = placement(aws.driver)

    aws.driver.ensure_database(DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7, **where))

    rds, ec2 = aws.driver.client("rds"), aws.driver.client("ec2")
    instance = rds.describe_db_instances(DBInstanceIdentifier="env-42-db")["DBInstances"][0]
    group = instance["DBSubnetGroup"]
    assert (group["DBSubnetGroupName"], group["VpcId"]) == ("env-42-db-subnets", where["vpc_id"])
    assert {subnet["SubnetIdentifier"] for subnet in group["Subnets"]} == set(where["subnet_ids"])
    assert instance["PubliclyAccessible"] is False
    [security_group] = instance["VpcSecurityGroups"]
    rules = ec2.describe_security_groups(GroupIds=[security_group["VpcSecurityGroupId"]])["SecurityGroups"][0]
    assert rules["VpcId"] == where["vpc_id"]
    assert [
        (permission["IpProtocol"], permission["FromPort"], permission["ToPort"], permission["IpRanges"][0]["CidrIp"])
        for permission in rules["IpPermissions"]
    ] == [("tcp", 5432, 5432, "10.42.0.0/16")]


def test_a_cache_goes_in_the_vpcs_private_subnets_reachable_on_the_redis_port_from_the_vpc_only(
    aws: CloudHarness,
) -> None:
    where = placement(aws.driver)
    created = sent(aws.driver, "elasticache.CreateReplicationGroup")

    aws.driver.ensure_cache(CacheSpec("env-42-redis", "cache.t4g.small", **where))

    [request] = created
    assert request["CacheSubnetGroupName"] == "env-42-redis-subnets"
    group = aws.driver.client("elasticache").describe_cache_subnet_groups(CacheSubnetGroupName="env-42-redis-subnets")[
        "CacheSubnetGroups"
    ][0]
    assert group["VpcId"] == where["vpc_id"]
    assert {subnet["SubnetIdentifier"] for subnet in group["Subnets"]} == set(where["subnet_ids"])
    [group_id] = request["SecurityGroupIds"]
    rules = aws.driver.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert [(permission["FromPort"], permission["IpRanges"][0]["CidrIp"]) for permission in rules["IpPermissions"]] == [
        (6379, "10.42.0.0/16")
    ]


def test_a_database_or_cache_without_a_network_is_refused_before_anything_is_sent(aws: CloudHarness) -> None:
    created = sent(aws.driver, "rds.CreateDBInstance") + sent(aws.driver, "elasticache.CreateReplicationGroup")

    with pytest.raises(errors.InvalidRequest, match="default VPC"):
        aws.driver.ensure_database(DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7))
    with pytest.raises(errors.InvalidRequest, match="default VPC"):
        aws.driver.ensure_cache(CacheSpec("env-42-redis", "cache.t4g.small"))

    assert created == []


def test_moto_here_refuses_a_database_outside_a_subnet_group_as_aws_does(aws: CloudHarness) -> None:
    # The harness's rule, not moto, stands for AWS: moto alone would create this instance in no VPC at all.
    with pytest.raises(ClientError) as refused:
        aws.driver.client("rds").create_db_instance(
            DBInstanceIdentifier="stray", Engine="postgres", DBInstanceClass="db.t4g.medium", AllocatedStorage=20
        )

    assert refused.value.response["Error"]["Code"] == "InvalidVPCNetworkStateFault"


def test_a_db_subnet_group_in_one_zone_is_refused_as_rds_refuses_it(aws: CloudHarness) -> None:
    one_zone = list(placement(aws.driver)["subnet_ids"][:1])

    with pytest.raises(ClientError) as refused:
        aws.driver.client("rds").create_db_subnet_group(
            DBSubnetGroupName="one-zone", DBSubnetGroupDescription="one zone", SubnetIds=one_zone
        )

    assert refused.value.response["Error"]["Code"] == "DBSubnetGroupDoesNotCoverEnoughAZs"


def test_an_ingress_rule_added_by_hand_to_a_databases_group_is_revoked_by_the_next_ensure(aws: CloudHarness) -> None:
    where = placement(aws.driver)
    spec = DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7, **where)
    aws.driver.ensure_database(spec)
    ec2 = aws.driver.client("ec2")
    group_id = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["env-42-db-access"]}])[
        "SecurityGroups"
    ][0]["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )

    aws.driver.ensure_database(spec)

    permissions = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    assert [(item["FromPort"], [r["CidrIp"] for r in item["IpRanges"]]) for item in permissions] == [
        (5432, ["10.42.0.0/16"])
    ]


def test_deleting_a_database_removes_its_subnet_group_and_security_group_and_can_be_repeated(
    aws: CloudHarness,
) -> None:
    aws.driver.ensure_database(DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7, **placement(aws.driver)))

    aws.driver.delete_database("env-42-db")
    aws.driver.delete_database("env-42-db")

    assert aws.driver.client("rds").describe_db_subnet_groups()["DBSubnetGroups"] == []
    groups = aws.driver.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["env-42-db-access"]}]
    )["SecurityGroups"]
    assert groups == []
    aws.driver.delete_network(NETWORK.name)  # nothing of the database holds the VPC


DR_NETWORK = NetworkSpec(
    name="env-42-dr-network",
    cidr="10.43.0.0/16",
    availability_zones=(),
    public_subnet_cidrs=(),
    private_subnet_cidrs=("10.43.10.0/24", "10.43.11.0/24"),
    nat_gateway=False,
    zone_count=2,
)


def test_a_cross_region_replica_goes_in_the_partners_network_reachable_from_it_only(aws: CloudHarness) -> None:
    partner = aws.driver.in_region(DR_REGION)
    aws.driver.ensure_database(DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7, **placement(aws.driver)))
    dr = partner.ensure_network(DR_NETWORK)
    created = sent(aws.driver, "rds.CreateDBInstanceReadReplica")

    aws.driver.ensure_database_replica(
        "env-42-db", DR_REGION, placement=Placement(tuple(subnet.id for subnet in dr.subnets), dr.id, dr.cidr)
    )

    [request] = created
    assert (request["DBSubnetGroupName"], request["PubliclyAccessible"]) == ("env-42-db-replica-subnets", False)
    group = partner.client("rds").describe_db_subnet_groups(DBSubnetGroupName="env-42-db-replica-subnets")[
        "DBSubnetGroups"
    ][0]
    assert group["VpcId"] == dr.id
    [group_id] = request["VpcSecurityGroupIds"]
    rules = partner.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert rules["VpcId"] == dr.id
    assert [(item["FromPort"], item["IpRanges"][0]["CidrIp"]) for item in rules["IpPermissions"]] == [
        (5432, "10.43.0.0/16")
    ]
    # A network of private subnets only has no way to or from the internet.
    assert (
        partner.client("ec2").describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [dr.id]}])[
            "InternetGateways"
        ]
        == []
    )


def test_a_cross_region_replica_without_a_network_there_is_refused_before_anything_is_sent(
    aws: CloudHarness,
) -> None:
    aws.driver.ensure_database(DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7, **placement(aws.driver)))
    created = sent(aws.driver, "rds.CreateDBInstanceReadReplica")

    with pytest.raises(errors.InvalidRequest, match=f"The read replica in {DR_REGION} env-42-db-replica needs"):
        aws.driver.ensure_database_replica("env-42-db", DR_REGION)

    assert created == []


def test_aws_here_refuses_a_cross_region_replica_outside_a_subnet_group_and_a_same_region_one_inside(
    aws: CloudHarness,
) -> None:
    # The harness's rule, not moto, stands for AWS: moto would create the first outside any VPC and accept the second.
    aws.driver.ensure_database(DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7, **placement(aws.driver)))
    source = aws.driver.client("rds").describe_db_instances(DBInstanceIdentifier="env-42-db")["DBInstances"][0]

    with pytest.raises(ClientError) as outside:
        aws.driver.in_region(DR_REGION).client("rds").create_db_instance_read_replica(
            DBInstanceIdentifier="stray", SourceDBInstanceIdentifier=source["DBInstanceArn"], SourceRegion=REGION
        )
    with pytest.raises(ClientError) as inside:
        aws.driver.client("rds").create_db_instance_read_replica(
            DBInstanceIdentifier="stray", SourceDBInstanceIdentifier="env-42-db", DBSubnetGroupName="env-42-db-subnets"
        )

    assert outside.value.response["Error"]["Code"] == "InvalidVPCNetworkStateFault"
    assert inside.value.response["Error"]["Code"] == "DBSubnetGroupNotAllowedFault"


def test_deleting_a_replica_removes_its_subnet_group_and_security_group_there_once_it_is_gone(
    aws: CloudHarness,
) -> None:
    partner = aws.driver.in_region(DR_REGION)
    aws.driver.ensure_database(DatabaseSpec("env-42-db", "16.3", "db.t4g.medium", 20, 7, **placement(aws.driver)))
    dr = partner.ensure_network(DR_NETWORK)
    aws.driver.ensure_database_replica(
        "env-42-db", DR_REGION, placement=Placement(tuple(subnet.id for subnet in dr.subnets), dr.id, dr.cidr)
    )

    aws.driver.delete_database_replica("env-42-db", DR_REGION)
    aws.driver.delete_database_replica("env-42-db", DR_REGION)

    assert partner.client("rds").describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert (
        partner.client("ec2").describe_security_groups(
            Filters=[{"Name": "group-name", "Values": ["env-42-db-replica-access"]}]
        )["SecurityGroups"]
        == []
    )
    partner.delete_network(DR_NETWORK.name)  # nothing of the replica holds the partner's network


# ---------------------------------------------------------------- network policy


def cluster(aws: CloudHarness) -> KubernetesClusterSpec:
    return KubernetesClusterSpec(
        name="env-42",
        version="1.34",
        subnet_ids=placement(aws.driver)["subnet_ids"],
        control_plane_role=f"arn:aws:iam::{ACCOUNT}:role/eks",
        node_role=f"arn:aws:iam::{ACCOUNT}:role/nodes",
    )


def test_a_cluster_gets_the_vpc_cni_add_on_with_network_policy_enforcement_on(aws: CloudHarness) -> None:
    addons: FakeEksAddons = aws.backend

    first = aws.driver.ensure_kubernetes_cluster(cluster(aws))
    again = aws.driver.ensure_kubernetes_cluster(cluster(aws))

    assert (first.network_policy, first.network_policy_status) == ("vpc-cni v1.18.3-eksbuild.1", "creating")
    assert (again.network_policy, again.network_policy_status) == ("vpc-cni v1.18.3-eksbuild.1", "active")
    [create] = [params for operation, params in addons.requests if operation == "CreateAddon"]
    assert json.loads(create["configurationValues"]) == {"enableNetworkPolicy": "true"}
    # A new cluster runs a self-managed VPC CNI: the managed add-on takes its fields over.
    assert (create["addonName"], create["resolveConflicts"]) == ("vpc-cni", "OVERWRITE")
    assert create["addonVersion"] == "v1.18.3-eksbuild.1"  # the default EKS names, at least 1.14


def test_an_add_on_installed_without_network_policy_keeps_its_settings_and_gets_it(aws: CloudHarness) -> None:
    addons: FakeEksAddons = aws.backend
    aws.driver.ensure_kubernetes_cluster(replace(cluster(aws), network_policy=False))
    aws.driver.client("eks").create_addon(
        clusterName="env-42",
        addonName="vpc-cni",
        addonVersion="v1.19.2-eksbuild.1",
        configurationValues=json.dumps({"env": {"WARM_IP_TARGET": "5"}}),
    )
    aws.driver.describe_kubernetes_cluster("env-42")  # rolled out

    info = aws.driver.ensure_kubernetes_cluster(cluster(aws))

    [update] = [params for operation, params in addons.requests if operation == "UpdateAddon"]
    assert json.loads(update["configurationValues"]) == {"env": {"WARM_IP_TARGET": "5"}, "enableNetworkPolicy": "true"}
    assert update["resolveConflicts"] == "PRESERVE"
    assert info.network_policy_status == "updating"


def test_an_add_on_too_old_for_network_policy_is_refused_in_words(aws: CloudHarness) -> None:
    aws.driver.ensure_kubernetes_cluster(replace(cluster(aws), network_policy=False))
    aws.driver.client("eks").create_addon(clusterName="env-42", addonName="vpc-cni", addonVersion="v1.12.6-eksbuild.2")
    aws.driver.describe_kubernetes_cluster("env-42")

    with pytest.raises(errors.InvalidRequest) as refused:
        aws.driver.ensure_kubernetes_cluster(cluster(aws))

    assert "v1.14 or later" in refused.value.message
    assert "one minor version at a time" in refused.value.message


def test_eks_here_refuses_network_policy_given_as_a_boolean_as_its_schema_does(aws: CloudHarness) -> None:
    aws.driver.ensure_kubernetes_cluster(replace(cluster(aws), network_policy=False))

    with pytest.raises(ClientError) as refused:
        aws.driver.client("eks").create_addon(
            clusterName="env-42", addonName="vpc-cni", configurationValues=json.dumps({"enableNetworkPolicy": True})
        )

    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"


def test_a_vpc_built_with_dns_hostnames_off_breaks_the_state_rule(aws: CloudHarness) -> None:
    ec2 = aws.driver.client("ec2")
    ec2.create_vpc(
        CidrBlock="10.9.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": NAME_TAG, "Value": "old-network"}]}],
    )

    broken = aws_rules.violations(aws.driver)

    assert any("enableDnsHostnames off" in line for line in broken)
