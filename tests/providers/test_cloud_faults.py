"""A create or a delete whose answer is lost after the cloud did it: the driver's retry finds what the first
try made instead of making a second one, and takes "not found" after a delete for done, instead of failing.
Each call loses its answer once, through the fault harness (tests/providers/faults.py) between the driver and
moto.
"""

from __future__ import annotations

from collections import Counter

from providers.cloud import DatabaseSpec, KeySpec, NetworkSpec
from tests.providers.conftest_cloud import REGION, aws_harness, moto_endpoint
from tests.providers.faults import AFTER, Faults, aws_inventory, inject_aws

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

NETWORK = NetworkSpec(
    name="faulty-net",
    cidr="10.40.0.0/16",
    availability_zones=("eu-west-1a", "eu-west-1b"),
    public_subnet_cidrs=("10.40.0.0/24", "10.40.1.0/24"),
    private_subnet_cidrs=("10.40.10.0/24", "10.40.11.0/24"),
    nat_gateway=True,
    tags={"team": "platform"},
)
# Every create the network and the key need; none but the NAT gateway's and the route table's takes a token.
CREATES = (
    "ec2.CreateVpc",
    "ec2.CreateSubnet",
    "ec2.CreateInternetGateway",
    "ec2.AttachInternetGateway",
    "ec2.AllocateAddress",
    "ec2.CreateNatGateway",
    "ec2.CreateRouteTable",
    "kms.CreateKey",
)


def test_aws_creates_whose_answers_are_lost_make_one_of_each_resource(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    faults = Faults(0, probability=0.0)
    for call in CREATES:
        faults.once(call, when=AFTER)
    inject_aws(harness.driver, faults)

    network = harness.driver.ensure_network(NETWORK)
    key = harness.driver.ensure_key(KeySpec(alias="faulty-key", description="lost answers"))

    assert not faults.scripted, f"not every create lost its answer: {faults.scripted}"
    with faults.paused():
        made = aws_inventory(lambda region: harness.driver, (REGION,))
    net = NETWORK.name
    zone_ids = sorted({subnet.zone_id for subnet in network.subnets})
    assert len(zone_ids) == 2
    expected = Counter(
        {
            (REGION, kind, name): 1
            for kind, name in [
                ("vpc", net),
                ("internet-gateway", net),
                ("route-table", f"{net}-public"),
                ("kms-key", "faulty-key"),
                *[("route-table", f"{net}-private-{zone}") for zone in zone_ids],
                *[("subnet", f"{net}-{tier}-{zone}") for tier in ("public", "private") for zone in zone_ids],
            ]
        }
    )
    # One NAT gateway, with its Elastic IP, per zone.
    expected[(REGION, "nat-gateway", net)] = expected[(REGION, "elastic-ip", net)] = len(zone_ids)
    assert made == expected
    assert len(network.subnets) == 4
    assert network.nat_gateway_ids
    assert key.enabled


# Every delete of the network's parts, each answered NotFound (or Gateway.NotAttached) when sent again.
DELETES = (
    "ec2.DeleteNatGateway",
    "ec2.ReleaseAddress",
    "ec2.DetachInternetGateway",
    "ec2.DeleteInternetGateway",
    "ec2.DisassociateRouteTable",
    "ec2.DeleteRouteTable",
    "ec2.DeleteSubnet",
    "ec2.DeleteVpc",
)


def test_aws_deletes_whose_answers_are_lost_still_delete_the_network(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    faults = Faults(0, probability=0.0)
    inject_aws(harness.driver, faults)
    harness.driver.ensure_network(NETWORK)
    for call in DELETES:
        faults.once(call, when=AFTER)

    harness.driver.delete_network(NETWORK.name)

    assert not faults.scripted, f"not every delete lost its answer: {faults.scripted}"
    with faults.paused():
        assert aws_inventory(lambda region: harness.driver, (REGION,)) == Counter()


# The creates that place a database: its subnet group, its security group (no client token) and its ingress rule.
DATABASE_CREATES = (
    "rds.CreateDBSubnetGroup",
    "ec2.CreateSecurityGroup",
    "ec2.AuthorizeSecurityGroupIngress",
    "rds.CreateDBInstance",
)


def test_a_database_whose_placement_creates_lose_their_answers_is_placed_once(moto_endpoint: str) -> None:
    harness = aws_harness(moto_endpoint)
    network = harness.driver.ensure_network(NETWORK)
    faults = Faults(0, probability=0.0)
    for call in DATABASE_CREATES:
        faults.once(call, when=AFTER)
    inject_aws(harness.driver, faults)

    database = harness.driver.ensure_database(
        DatabaseSpec(
            "faulty-db",
            "16.4",
            "db.t4g.medium",
            20,
            7,
            subnet_ids=tuple(subnet.id for subnet in network.subnets if not subnet.public),
            vpc_id=network.id,
            allowed_cidr=network.cidr,
        )
    )

    assert not faults.scripted, f"not every create lost its answer: {faults.scripted}"
    with faults.paused():
        ec2 = harness.driver.client("ec2")
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["faulty-db-access"]}])
        (group,) = groups["SecurityGroups"]
        assert [(rule["FromPort"], [r["CidrIp"] for r in rule["IpRanges"]]) for rule in group["IpPermissions"]] == [
            (5432, [network.cidr])
        ]
        instances = harness.driver.client("rds").describe_db_instances()["DBInstances"]
    assert [instance["DBInstanceIdentifier"] for instance in instances] == [database.name]
