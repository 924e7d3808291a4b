"""What AWS refuses, or silently does not do, and moto accepts: checks on the requests the AWS driver sends.

Moto stores what it is sent: a cross-region replica of an encrypted database
without a key in the destination region (moto quietly reuses the source's),
a replication rule with an empty role, a rule that leaves SSE-KMS objects
behind. On AWS the first two are refused and the third replicates nothing
that is KMS-encrypted. Each rule here is one operation's documented
constraint: it reads the request's parameters as the driver passed them to
boto3 (before botocore validates or serialises them) and raises the
``ClientError`` AWS would answer. :func:`enforce` puts every rule on a driver
(botocore ``before-parameter-build`` hooks through ``AwsCloudDriver.on``), so
a test of the driver or of a whole build fails when the driver sends what AWS
would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import boto3
from botocore.exceptions import ClientError

from providers.aws.cloud import AwsCloudDriver


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


RULES: dict[str, Rule] = {
    "rds.CreateDBInstanceReadReplica": encrypted_cross_region_replica_names_a_key_in_its_region,
    "s3.PutBucketReplication": replication_has_a_role_and_carries_kms_objects,
    "sts.AssumeRole": external_id_is_absent_or_a_real_one,
}


def _hook(rule: Rule, account: Account) -> Callable[..., None]:
    def check(params: Mapping[str, Any], context: Mapping[str, Any] | None = None, **_: Any) -> None:
        rule(params, str((context or {}).get("client_region") or ""), account)

    return check


def enforce(driver: AwsCloudDriver, endpoint: str) -> None:
    """Check every request ``driver`` sends against :data:`RULES` (AssumeRole goes through its base session)."""
    account = Account(endpoint)
    for operation, rule in RULES.items():
        driver.on(f"before-parameter-build.{operation}", _hook(rule, account))
    assume = RULES["sts.AssumeRole"]
    driver.sessions.base_session.events.register("before-parameter-build.sts.AssumeRole", _hook(assume, account))
