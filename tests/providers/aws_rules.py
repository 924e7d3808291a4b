"""What AWS refuses, or needs, that moto lets through: the rules every moto-backed AWS driver in the tests obeys.

moto accepts a VPC with DNS hostnames off, an RDS instance with no subnet
group, an add-on configuration EKS would reject. A test that passes there
hides a build that fails on a real account, so :func:`enforce` puts two kinds
of rule on a driver:

- request rules, checked on every call before it is sent (botocore's
  ``before-parameter-build`` event): a broken request is refused with a
  ``ClientError`` carrying the code AWS answers, as AWS would;
- state rules, checked by :func:`verify_state` once a build is done (what
  AWS accepts call by call but a working region needs, read back from moto).

Each rule quotes the documentation it stands for. Add one with
``@request_rule("service.Operation")`` or ``@state_rule``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from providers.aws.cloud import NAME_TAG, AwsCloudDriver

# A check returns None when the request is fine, else (AWS's error code, its message).
RequestCheck = Callable[[AwsCloudDriver, Mapping[str, Any]], tuple[str, str] | None]
StateCheck = Callable[[AwsCloudDriver], list[str]]

REQUEST_RULES: dict[str, list[RequestCheck]] = {}
STATE_RULES: list[StateCheck] = []


def request_rule(operation: str) -> Callable[[RequestCheck], RequestCheck]:
    """Register a check of every ``operation`` request (``"rds.CreateDBInstance"``)."""

    def register(check: RequestCheck) -> RequestCheck:
        REQUEST_RULES.setdefault(operation, []).append(check)
        return check

    return register


def state_rule(check: StateCheck) -> StateCheck:
    """Register a check of what the driver built, returning one line per violation."""
    STATE_RULES.append(check)
    return check


def enforce(driver: AwsCloudDriver) -> AwsCloudDriver:
    """Make the driver's requests meet the request rules: a broken one is refused before it reaches moto."""

    def check(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        operation = f"{model.service_model.service_name}.{model.name}"
        for rule in REQUEST_RULES.get(operation, ()):
            refusal = rule(driver, params)
            if refusal is not None:
                code, message = refusal
                answer = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
                raise ClientError(answer, model.name)

    driver.on("before-parameter-build", check)
    return driver


def violations(driver: AwsCloudDriver) -> list[str]:
    """Every state rule the driver's account breaks now."""
    return [line for rule in STATE_RULES for line in rule(driver)]


def verify_state(driver: AwsCloudDriver) -> None:
    """Fail the test if what was built breaks a state rule."""
    broken = violations(driver)
    assert not broken, "AWS would not run what was built:\n" + "\n".join(broken)


# ---------------------------------------------------------------- EC2


@request_rule("ec2.ModifyVpcAttribute")
def one_vpc_attribute_per_call(driver: AwsCloudDriver, params: Mapping[str, Any]) -> tuple[str, str] | None:
    # ModifyVpcAttribute: "You can only modify one attribute in each request."
    attributes = [key for key in params if key.startswith("Enable")]
    if len(attributes) != 1:
        return "InvalidParameterCombination", "Only one attribute may be modified per request"
    return None


def _portal_vpcs(driver: AwsCloudDriver) -> list[dict[str, Any]]:
    tagged = [{"Name": "tag-key", "Values": [NAME_TAG]}]
    vpcs: list[dict[str, Any]] = driver.client("ec2").describe_vpcs(Filters=tagged)["Vpcs"]
    return vpcs


@state_rule
def vpc_dns_for_eks(driver: AwsCloudDriver) -> list[str]:
    # EKS network requirements: "The VPC must have DNS hostname and DNS resolution support. Otherwise,
    # nodes can't register to your cluster."
    ec2 = driver.client("ec2")
    broken = []
    for vpc in _portal_vpcs(driver):
        for attribute, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
            if not ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)[key]["Value"]:
                broken.append(f"VPC {vpc['VpcId']} has {attribute} off: EKS nodes cannot register")
    return broken


@state_rule
def subnets_tagged_for_load_balancers(driver: AwsCloudDriver) -> list[str]:
    # EKS subnet requirements: public subnets carry kubernetes.io/role/elb = 1 and private ones
    # kubernetes.io/role/internal-elb = 1, or load balancers cannot find a subnet to go in.
    ec2 = driver.client("ec2")
    broken = []
    for vpc in _portal_vpcs(driver):
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
            tags = {tag["Key"]: tag["Value"] for tag in subnet.get("Tags", [])}
            role = (
                "kubernetes.io/role/elb" if tags.get("portal:tier") == "public" else "kubernetes.io/role/internal-elb"
            )
            if tags.get(role) != "1":
                broken.append(f"subnet {subnet['SubnetId']} ({tags.get('portal:tier')}) lacks {role}=1")
    return broken


# ---------------------------------------------------------------- RDS


def _zones_of(driver: AwsCloudDriver, subnet_ids: list[str]) -> set[str]:
    subnets = driver.client("ec2").describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    return {subnet["AvailabilityZoneId"] for subnet in subnets}


@request_rule("rds.CreateDBSubnetGroup")
def db_subnet_group_spans_two_zones(driver: AwsCloudDriver, params: Mapping[str, Any]) -> tuple[str, str] | None:
    # CreateDBSubnetGroup: "DB subnet groups must contain at least one subnet in at least two AZs in the
    # AWS Region." (DBSubnetGroupDoesNotCoverEnoughAZs)
    if len(_zones_of(driver, list(params.get("SubnetIds", [])))) < 2:
        return (
            "DBSubnetGroupDoesNotCoverEnoughAZs",
            "Subnets in the DB subnet group should cover at least two Availability Zones",
        )
    return None


@request_rule("rds.CreateDBInstance")
def db_instance_placed_in_the_vpc(driver: AwsCloudDriver, params: Mapping[str, Any]) -> tuple[str, str] | None:
    # Without DBSubnetGroupName RDS uses the account's default VPC (refused where there is none), and an
    # instance there without PubliclyAccessible=False gets a public address.
    if not params.get("DBSubnetGroupName"):
        return "InvalidVPCNetworkStateFault", "No DB subnet group: the instance would go in the default VPC"
    if not params.get("VpcSecurityGroupIds"):
        return (
            "InvalidParameterCombination",
            "No VPC security group: the VPC's default group would admit anything in it",
        )
    if params.get("PubliclyAccessible") is not False:
        return "InvalidParameterCombination", "The portal's databases are never publicly accessible"
    return None


# ---------------------------------------------------------------- ElastiCache


@request_rule("elasticache.CreateReplicationGroup")
def cache_placed_in_the_vpc(driver: AwsCloudDriver, params: Mapping[str, Any]) -> tuple[str, str] | None:
    # Without CacheSubnetGroupName ElastiCache uses the default VPC's default subnet group.
    if not params.get("CacheSubnetGroupName"):
        return "InvalidVPCNetworkStateFault", "No cache subnet group: the cache would go in the default VPC"
    if not params.get("SecurityGroupIds"):
        return "InvalidParameterCombination", "No security group: the VPC's default group would admit anything in it"
    return None


# ---------------------------------------------------------------- EKS


def _cni_version(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.lstrip("v").split("-")[0].split("."))
    except ValueError:
        return ()


@request_rule("eks.CreateAddon")
@request_rule("eks.UpdateAddon")
def network_policy_configuration(driver: AwsCloudDriver, params: Mapping[str, Any]) -> tuple[str, str] | None:
    # "The values that you provide are validated against the schema in DescribeAddonConfiguration": the
    # vpc-cni schema has enableNetworkPolicy as the string "true" or "false", from v1.14 on.
    values = params.get("configurationValues")
    if values is None:
        return None
    try:
        configuration = json.loads(values)
    except ValueError:
        return "InvalidParameterException", "configurationValues is not valid JSON"
    if params.get("addonName") != "vpc-cni" or "enableNetworkPolicy" not in configuration:
        return None
    if configuration["enableNetworkPolicy"] not in ("true", "false"):
        return "InvalidParameterException", "enableNetworkPolicy must be the string 'true' or 'false'"
    version = params.get("addonVersion")
    if version and _cni_version(version) < (1, 14):
        return "InvalidParameterException", f"vpc-cni {version} has no enableNetworkPolicy (1.14 or later)"
    return None
