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
``@request_rule("service.Operation")`` or ``@state_rule``; rules that must
read the account or know the client's region go in :data:`RULES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import boto3
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


def enforce(driver: AwsCloudDriver, endpoint: str | None = None) -> AwsCloudDriver:
    """Make the driver's requests meet the request rules: a broken one is refused before it reaches moto. The
    rules that read the account (:data:`RULES`) read it through clients of their own on ``endpoint`` (the
    driver's by default); AssumeRole goes through the driver's base session."""

    def check(params: Mapping[str, Any], model: Any, context: Mapping[str, Any] | None = None, **_: Any) -> None:
        operation = f"{model.service_model.service_name}.{model.name}"
        region = str((context or {}).get("client_region") or driver.region)
        here = driver if region == driver.region else driver.in_region(region)  # the rule reads the request's region
        for rule in REQUEST_RULES.get(operation, ()):
            refusal = rule(here, params)
            if refusal is not None:
                code, message = refusal
                answer = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
                raise ClientError(answer, model.name)

    driver.on("before-parameter-build", check)
    account = Account(endpoint or driver.endpoint_url or "")
    for operation, rules in RULES.items():
        driver.on(f"before-parameter-build.{operation}", _hook(rules, account))
    driver.sessions.base_session.events.register(
        "before-parameter-build.sts.AssumeRole", _hook(RULES["sts.AssumeRole"], account)
    )
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


# ---------------------------------------------------------------- keys, replicas, replication, STS
# These rules read the account through clients of their own (no rules on them) on the same moto.


@dataclass(frozen=True)
class Account:
    """The account behind the requests, read through clients of its own (no rules on them) on the same moto."""

    endpoint: str

    def client(self, service: str, region: str) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


Rule = Callable[[Mapping[str, Any], str, Account], None]


def refuse(operation: str, code: str, message: str) -> NoReturn:
    """Answer as AWS does when it refuses a request: a 400 with its error code and message."""
    raise ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation
    )


def _region_of(arn: str) -> str:
    return arn.split(":")[3] if arn.startswith("arn:") and arn.count(":") >= 5 else ""


def encrypted_cross_region_replica_names_a_key_in_its_region(
    params: Mapping[str, Any], region: str, account: Account
) -> None:
    """CreateDBInstanceReadReplica, KmsKeyId: "If you create an encrypted read replica in a different AWS Region,
    then you must specify a KMS key identifier for the destination AWS Region. KMS keys are specific to the AWS
    Region that they are created in, and you can't use KMS keys from one AWS Region in another AWS Region."
    """
    source = str(params.get("SourceDBInstanceIdentifier", ""))
    source_region = _region_of(source) or region
    if source_region == region:
        return
    instance = account.client("rds", source_region).describe_db_instances(
        DBInstanceIdentifier=source.rsplit(":", 1)[-1]
    )["DBInstances"][0]
    if not instance.get("StorageEncrypted"):
        return
    key = str(params.get("KmsKeyId") or "")
    if not key:
        refuse(
            "CreateDBInstanceReadReplica",
            "InvalidParameterCombination",
            "A cross-region read replica of an encrypted DB instance needs a KmsKeyId in the destination region.",
        )
    if _region_of(key) and _region_of(key) != region:
        refuse("CreateDBInstanceReadReplica", "KMSKeyNotAccessibleFault", f"The key {key} is not in {region}.")
    if key.startswith("alias/aws/"):
        return  # an AWS managed key: every region has one under that alias (KMS makes it on first use)
    try:
        account.client("kms", region).describe_key(KeyId=key)
    except ClientError:
        refuse("CreateDBInstanceReadReplica", "KMSKeyNotAccessibleFault", f"No key {key} in {region}.")


def cross_region_replica_placed_in_a_vpc_of_its_region(
    params: Mapping[str, Any], region: str, account: Account
) -> None:
    """CreateDBInstanceReadReplica, DBSubnetGroupName: "If no DB subnet group is specified, then the new DB instance
    isn't created in a VPC"; "The specified DB subnet group must be in the same Amazon Web Services Region in which
    the operation is running"; and a replica in its source's region takes none (``DBSubnetGroupNotAllowedFault``:
    "The DBSubnetGroup shouldn't be specified while creating read replicas that lie in the same region as the
    source instance"). A cross-region replica, like every database of the portal's, also needs a security group of
    its own and no public address.
    """
    source_region = _region_of(str(params.get("SourceDBInstanceIdentifier", ""))) or region
    group = str(params.get("DBSubnetGroupName") or "")
    if source_region == region:
        if group:
            refuse(
                "CreateDBInstanceReadReplica",
                "DBSubnetGroupNotAllowedFault",
                "The DBSubnetGroup shouldn't be specified while creating read replicas that lie in the same region "
                "as the source instance.",
            )
        return
    if not group:
        refuse(
            "CreateDBInstanceReadReplica",
            "InvalidVPCNetworkStateFault",
            f"No DB subnet group: the replica in {region} would be created outside any VPC.",
        )
    try:
        account.client("rds", region).describe_db_subnet_groups(DBSubnetGroupName=group)
    except ClientError:
        refuse("CreateDBInstanceReadReplica", "DBSubnetGroupNotFoundFault", f"DB subnet group {group} not in {region}.")
    if not params.get("VpcSecurityGroupIds"):
        refuse(
            "CreateDBInstanceReadReplica",
            "InvalidParameterCombination",
            "No VPC security group: the VPC's default group would admit anything in it",
        )
    if params.get("PubliclyAccessible") is not False:
        refuse("CreateDBInstanceReadReplica", "InvalidParameterCombination", "The replica would be publicly accessible")


def replication_has_a_role_and_carries_kms_objects(params: Mapping[str, Any], region: str, account: Account) -> None:
    """PutBucketReplication: ``Role`` is "the Amazon Resource Name (ARN) of the IAM role that Amazon S3 assumes
    when replicating objects"; "By default, Amazon S3 doesn't replicate objects that are stored at rest using
    server-side encryption with AWS KMS keys": a rule must opt in with ``SseKmsEncryptedObjects`` and name a
    ``ReplicaKmsKeyID`` "created in the same AWS Region as the destination bucket" (S3 refuses the opt-in
    without the key; without the opt-in it accepts the rule and leaves those objects behind, refused here so
    that a test sees it).
    """
    configuration = params.get("ReplicationConfiguration", {})
    role = str(configuration.get("Role") or "")
    if not (role.startswith("arn:") and ":iam::" in role and ":role/" in role):
        refuse("PutBucketReplication", "InvalidArgument", f"Invalid Role: {role!r} is not an IAM role ARN.")
    try:
        encryption = account.client("s3", region).get_bucket_encryption(Bucket=params["Bucket"])
    except ClientError:  # moto has no default encryption for a bucket never given one (AWS reports SSE-S3)
        encryption = {"ServerSideEncryptionConfiguration": {"Rules": []}}
    algorithms = {
        rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        for rule in encryption["ServerSideEncryptionConfiguration"]["Rules"]
    }
    for rule in configuration.get("Rules", []):
        opted_in = rule.get("SourceSelectionCriteria", {}).get("SseKmsEncryptedObjects", {}).get("Status")
        key = rule.get("Destination", {}).get("EncryptionConfiguration", {}).get("ReplicaKmsKeyID", "")
        if opted_in == "Enabled" and not key:
            refuse(
                "PutBucketReplication",
                "InvalidRequest",
                "ReplicaKmsKeyID must be specified if SseKmsEncryptedObjects tag is present.",
            )
        if "aws:kms" in algorithms and (opted_in != "Enabled" or not key):
            refuse(
                "PutBucketReplication",
                "InvalidRequest",
                f"{params['Bucket']} encrypts with SSE-KMS: a rule without SseKmsEncryptedObjects and a "
                "ReplicaKmsKeyID replicates none of its objects.",
            )
        if key:
            target = rule["Destination"]["Bucket"].rsplit(":", 1)[-1]
            target_region = (
                account.client("s3", region).get_bucket_location(Bucket=target).get("LocationConstraint") or "us-east-1"
            )
            if _region_of(key) != target_region:
                refuse(
                    "PutBucketReplication",
                    "InvalidRequest",
                    f"ReplicaKmsKeyID {key} is not a key ARN in the destination bucket's region {target_region}.",
                )


def external_id_is_absent_or_a_real_one(params: Mapping[str, Any], region: str, account: Account) -> None:
    """AssumeRole, ExternalId: "Length Constraints: Minimum length of 2. Maximum length of 1224." An empty one is
    refused; a role without an external id condition is assumed with none."""
    if "ExternalId" in params and not 2 <= len(str(params["ExternalId"])) <= 1224:
        refuse("AssumeRole", "ValidationError", "ExternalId must be 2 to 1224 characters long.")


RULES: dict[str, tuple[Rule, ...]] = {
    "rds.CreateDBInstanceReadReplica": (
        cross_region_replica_placed_in_a_vpc_of_its_region,
        encrypted_cross_region_replica_names_a_key_in_its_region,
    ),
    "s3.PutBucketReplication": (replication_has_a_role_and_carries_kms_objects,),
    "sts.AssumeRole": (external_id_is_absent_or_a_real_one,),
}


def _hook(rules: tuple[Rule, ...], account: Account) -> Callable[..., None]:
    def check(params: Mapping[str, Any], context: Mapping[str, Any] | None = None, **_: Any) -> None:
        for rule in rules:
            rule(params, str((context or {}).get("client_region") or ""), account)

    return check
