"""The AWS driver's IAM roles, KMS keys and what encrypts with them across regions, on moto with AWS's rules.

The harness's drivers check every request against :mod:`tests.providers.aws_rules`, so a request AWS would
refuse (or would accept and then not act on) fails here as it would in a real account.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from providers import errors
from providers.aws.cloud import AwsCloudDriver
from providers.aws.errors import translate
from providers.cloud import AwsCredentials, BucketSpec, DatabaseSpec, KeySpec, KubernetesClusterSpec, RoleSpec
from tests.providers import aws_rules
from tests.providers.conftest_cloud import ACCOUNT, DR_REGION, REGION, TEST_RETRIES, aws_harness, moto_endpoint
from tests.providers.test_aws_cloud import dr_placement, placement

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

PORTAL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/portal"


def drivers(endpoint: str) -> tuple[AwsCloudDriver, AwsCloudDriver]:
    """A fresh moto account's driver in the home region and one in the DR region, both under AWS's rules."""
    home = aws_harness(endpoint).driver
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=DR_REGION)
    partner = AwsCloudDriver(
        AwsCredentials(role_arn=PORTAL_ROLE, external_id="portal-test", region=DR_REGION),
        base_session=base,
        endpoint_url=endpoint,
        retry_policy=TEST_RETRIES,
        sleep=lambda seconds: None,
    )
    aws_rules.enforce(partner, endpoint)
    return home, partner


def trusted_service(driver: AwsCloudDriver, name: str) -> str:
    statement = driver.client("iam").get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]["Statement"]
    return str(statement[0]["Principal"]["Service"])


# ---------------------------------------------------------------- roles


def test_a_role_is_made_once_with_the_documented_trust_and_managed_policies(moto_endpoint: str) -> None:
    home, _ = drivers(moto_endpoint)
    spec = RoleSpec(name="portal-t1-eu-west-1-eks-nodes", purpose="kubernetes_nodes", tags={"portal:region": "x"})

    first = home.ensure_role(spec)
    again = home.ensure_role(spec)

    assert first.arn == again.arn == f"arn:aws:iam::{ACCOUNT}:role/{spec.name}"
    assert trusted_service(home, spec.name) == "ec2.amazonaws.com"
    iam = home.client("iam")
    attached = iam.list_attached_role_policies(RoleName=spec.name)["AttachedPolicies"]
    assert sorted(policy["PolicyArn"] for policy in attached) == [
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    ]
    assert [role["RoleName"] for role in iam.list_roles()["Roles"]] == [spec.name]
    assert again.tags["portal:region"] == "x"
    assert again.purpose == "kubernetes_nodes"


def test_a_role_whose_trust_was_changed_is_given_its_documented_trust_again(moto_endpoint: str) -> None:
    home, _ = drivers(moto_endpoint)
    spec = RoleSpec(name="portal-t1-eu-west-1-eks-cluster", purpose="kubernetes_control_plane")
    home.ensure_role(spec)
    wrong = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    home.client("iam").update_assume_role_policy(RoleName=spec.name, PolicyDocument=json.dumps(wrong))

    home.ensure_role(spec)

    assert trusted_service(home, spec.name) == "eks.amazonaws.com"


def test_the_replication_role_may_read_its_bucket_and_write_its_copy_with_their_keys_only(moto_endpoint: str) -> None:
    home, partner = drivers(moto_endpoint)
    source_key = home.ensure_key(KeySpec(alias="portal-eu-west-1-key")).arn
    target_key = partner.ensure_key(KeySpec(alias="portal-eu-west-1-key")).arn
    spec = RoleSpec(
        name="portal-t1-eu-west-1-s3-replication",
        purpose="bucket_replication",
        source_bucket="data",
        target_bucket="data-dr",
        source_key=source_key,
        target_key=target_key,
    )

    home.ensure_role(spec)

    assert trusted_service(home, spec.name) == "s3.amazonaws.com"
    iam = home.client("iam")
    assert iam.list_attached_role_policies(RoleName=spec.name)["AttachedPolicies"] == []
    document = iam.get_role_policy(RoleName=spec.name, PolicyName="portal-bucket-replication")["PolicyDocument"]
    resources = {statement["Sid"]: statement["Resource"] for statement in document["Statement"]}
    assert resources == {
        "ReadSourceConfiguration": ["arn:aws:s3:::data"],
        "ReadSourceVersions": ["arn:aws:s3:::data/*"],
        "WriteTargetReplicas": ["arn:aws:s3:::data-dr/*"],
        "DecryptSource": [source_key],
        "EncryptReplicas": [target_key],
    }
    conditions = {statement["Sid"]: statement.get("Condition") for statement in document["Statement"]}
    assert conditions["DecryptSource"] == {
        "StringLike": {
            "kms:ViaService": f"s3.{REGION}.amazonaws.com",
            "kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
        }
    }
    assert conditions["EncryptReplicas"]["StringLike"]["kms:ViaService"] == f"s3.{DR_REGION}.amazonaws.com"


def test_deleting_a_role_takes_its_policies_first_and_a_missing_one_is_already_deleted(moto_endpoint: str) -> None:
    home, _ = drivers(moto_endpoint)
    spec = RoleSpec(
        name="portal-t1-eu-west-1-s3-replication", purpose="bucket_replication", source_bucket="a", target_bucket="b"
    )
    home.ensure_role(RoleSpec(name="portal-t1-eu-west-1-eks-nodes", purpose="kubernetes_nodes"))
    home.ensure_role(spec)

    home.delete_role("portal-t1-eu-west-1-eks-nodes")
    home.delete_role(spec.name)
    home.delete_role(spec.name)

    assert home.client("iam").list_roles()["Roles"] == []
    with pytest.raises(errors.NotFound):
        home.describe_role(spec.name)


def test_a_role_of_that_name_the_portal_did_not_make_is_neither_changed_nor_deleted(moto_endpoint: str) -> None:
    home, _ = drivers(moto_endpoint)
    trust = AwsCloudDriver.trust_policy("kubernetes_nodes")
    home.client("iam").create_role(RoleName="shared-nodes", AssumeRolePolicyDocument=json.dumps(trust))

    with pytest.raises(errors.Conflict, match="not made by the portal"):
        home.ensure_role(RoleSpec(name="shared-nodes", purpose="kubernetes_control_plane"))
    home.delete_role("shared-nodes")

    assert trusted_service(home, "shared-nodes") == "ec2.amazonaws.com"
    assert home.client("iam").list_attached_role_policies(RoleName="shared-nodes")["AttachedPolicies"] == []


def test_a_role_name_longer_than_iam_allows_is_refused_before_anything_is_sent(moto_endpoint: str) -> None:
    home, _ = drivers(moto_endpoint)

    with pytest.raises(errors.InvalidRequest, match="1 to 64 characters"):
        home.ensure_role(RoleSpec(name="r" * 65, purpose="kubernetes_nodes"))


def test_eks_refusing_a_role_it_cannot_assume_yet_is_waited_for_not_failed() -> None:
    # IAM is eventually consistent: a role made a moment ago may not be assumable for a few seconds.
    refusal = ClientError(
        {
            "Error": {
                "Code": "InvalidParameterException",
                "Message": "Role with arn: arn:aws:iam::123456789012:role/x could not be assumed because it does not "
                "exist or the trusted entity is not correct",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "CreateCluster",
    )

    assert isinstance(translate(refusal, "eks-x", "eks"), errors.Busy)


# ---------------------------------------------------------------- keys


def key_policy(driver: AwsCloudDriver, key_id: str) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(
        driver.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    )
    return policy


def test_a_key_is_made_with_yearly_rotation_and_a_policy_for_the_account_and_the_portal(moto_endpoint: str) -> None:
    home, _ = drivers(moto_endpoint)

    key = home.ensure_key(KeySpec(alias="portal-eu-west-1-key"))

    kms = home.client("kms")
    assert kms.get_key_rotation_status(KeyId=key.id)["KeyRotationEnabled"] is True
    statements = {statement["Sid"]: statement for statement in key_policy(home, key.id)["Statement"]}
    assert statements["AccountAdministersThroughIam"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statements["AccountAdministersThroughIam"]["Action"] == "kms:*"
    assert statements["PortalAdministers"]["Principal"] == {"AWS": PORTAL_ROLE}
    assert "kms:Decrypt" not in statements["PortalAdministers"]["Action"]
    assert statements["PortalUsesThroughServices"]["Condition"] == {
        "StringEquals": {"kms:ViaService": [f"{service}.{REGION}.amazonaws.com" for service in ("rds", "s3", "eks")]}
    }
    assert statements["PortalGrantsToServices"]["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


def test_a_key_found_again_is_given_the_policy_and_rotation_a_crash_kept_from_it(moto_endpoint: str) -> None:
    home, _ = drivers(moto_endpoint)
    kms = home.client("kms")
    key_id = kms.create_key(Description="made before the portal set policies")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/portal-eu-west-1-key", TargetKeyId=key_id)

    key = home.ensure_key(KeySpec(alias="portal-eu-west-1-key"))

    assert key.id == key_id
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    assert key_policy(home, key_id) == home.key_policy()


# ---------------------------------------------------------------- what encrypts with the keys


def encrypted_database(home: AwsCloudDriver, key_arn: str) -> None:
    home.ensure_database(
        DatabaseSpec(
            name="portal-eu-west-1-db",
            engine_version="16",
            instance_class="db.t4g.medium",
            storage_gb=20,
            backup_retention_days=7,
            encryption_key_id=key_arn,
            **placement(home),
        )
    )


def test_an_encrypted_databases_replica_in_another_region_is_encrypted_with_the_key_of_its_alias_there(
    moto_endpoint: str,
) -> None:
    home, partner = drivers(moto_endpoint)
    encrypted_database(home, home.ensure_key(KeySpec(alias="portal-eu-west-1-key")).arn)
    there = partner.ensure_key(KeySpec(alias="portal-eu-west-1-key"))
    sent: list[dict[str, Any]] = []
    home.on("before-call.rds.CreateDBInstanceReadReplica", lambda params, **_: sent.append(dict(params["body"])))

    replica = home.ensure_database_replica("portal-eu-west-1-db", DR_REGION, placement=dr_placement(partner))

    assert replica.region == DR_REGION
    assert sent[0]["KmsKeyId"] == there.arn
    # botocore presigned the source region's request from SourceRegion, as RDS needs across regions.
    assert sent[0]["PreSignedUrl"].startswith("http")
    assert "SourceRegion" not in sent[0]
    described = partner.client("rds").describe_db_instances(DBInstanceIdentifier="portal-eu-west-1-db-replica")
    assert described["DBInstances"][0]["KmsKeyId"] == there.arn


def test_a_replica_of_an_encrypted_database_with_no_key_of_its_alias_in_the_partner_is_refused_saying_so(
    moto_endpoint: str,
) -> None:
    home, partner = drivers(moto_endpoint)
    encrypted_database(home, home.ensure_key(KeySpec(alias="portal-eu-west-1-key")).arn)

    with pytest.raises(errors.InvalidRequest, match=f"No key is aliased portal-eu-west-1-key in {DR_REGION}"):
        home.ensure_database_replica("portal-eu-west-1-db", DR_REGION, placement=dr_placement(partner))


def test_a_cluster_envelope_encrypts_its_secrets_with_the_key_it_is_given(moto_endpoint: str) -> None:
    home, _ = drivers(moto_endpoint)
    key = home.ensure_key(KeySpec(alias="portal-eu-west-1-key"))

    home.ensure_kubernetes_cluster(
        KubernetesClusterSpec(
            name="eks-eu-west-1",
            version="1.34",
            subnet_ids=("subnet-1",),
            control_plane_role=f"arn:aws:iam::{ACCOUNT}:role/eks",
            secrets_encryption_key=key.arn,
        )
    )

    cluster = home.client("eks").describe_cluster(name="eks-eu-west-1")["cluster"]
    assert cluster["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": key.arn}}]


def kms_buckets(home: AwsCloudDriver, partner: AwsCloudDriver) -> tuple[str, str]:
    home_key = home.ensure_key(KeySpec(alias="portal-eu-west-1-key")).arn
    partner_key = partner.ensure_key(KeySpec(alias="portal-eu-west-1-key")).arn
    partner.ensure_bucket(BucketSpec(name="portal-data-dr", encryption_key_id=partner_key))
    return home_key, partner_key


def test_a_kms_encrypted_bucket_replicates_its_objects_re_encrypted_with_the_partners_key(moto_endpoint: str) -> None:
    home, partner = drivers(moto_endpoint)
    home_key, partner_key = kms_buckets(home, partner)
    sent: list[dict[str, Any]] = []
    home.on("before-parameter-build.s3.PutBucketReplication", lambda params, **_: sent.append(params))

    home.ensure_bucket(
        BucketSpec(
            name="portal-data",
            replication_target_bucket="portal-data-dr",
            replication_role=f"arn:aws:iam::{ACCOUNT}:role/replication",
            encryption_key_id=home_key,
            replication_target_key_id=partner_key,
        )
    )

    s3 = home.client("s3")
    encryption = s3.get_bucket_encryption(Bucket="portal-data")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": home_key}
    assert encryption["BucketKeyEnabled"] is True
    # Moto keeps neither part of the rule, so the request is what is checked.
    (rule,) = sent[0]["ReplicationConfiguration"]["Rules"]
    assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    assert rule["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": partner_key}


def test_replicating_a_kms_encrypted_bucket_without_a_key_in_the_target_region_is_refused(moto_endpoint: str) -> None:
    home, partner = drivers(moto_endpoint)
    home_key, _ = kms_buckets(home, partner)
    spec = BucketSpec(
        name="portal-data",
        replication_target_bucket="portal-data-dr",
        replication_role=f"arn:aws:iam::{ACCOUNT}:role/replication",
        encryption_key_id=home_key,
    )

    with pytest.raises(errors.InvalidRequest, match="needs a key in the target bucket's region"):
        home.ensure_bucket(spec)


def test_replication_without_a_role_is_refused(moto_endpoint: str) -> None:
    home, partner = drivers(moto_endpoint)
    partner.ensure_bucket(BucketSpec(name="portal-data-dr"))

    with pytest.raises(errors.InvalidRequest, match="needs an IAM role"):
        home.ensure_bucket(BucketSpec(name="portal-data", replication_target_bucket="portal-data-dr"))


# ---------------------------------------------------------------- the harness refuses what AWS refuses


def test_the_harness_refuses_the_requests_aws_refuses(moto_endpoint: str) -> None:
    home, partner = drivers(moto_endpoint)
    encrypted_database(home, home.ensure_key(KeySpec(alias="portal-eu-west-1-key")).arn)
    source = home.client("rds").describe_db_instances(DBInstanceIdentifier="portal-eu-west-1-db")["DBInstances"][0]
    dr = dr_placement(partner)
    partner.client("rds").create_db_subnet_group(
        DBSubnetGroupName="copy-subnets", DBSubnetGroupDescription="DR", SubnetIds=list(dr.subnet_ids)
    )
    access = partner.client("ec2").create_security_group(GroupName="copy-access", Description="DR", VpcId=dr.vpc_id)
    placed: dict[str, Any] = {
        "DBSubnetGroupName": "copy-subnets",
        "VpcSecurityGroupIds": [access["GroupId"]],
        "PubliclyAccessible": False,
    }
    with pytest.raises(ClientError, match="needs a KmsKeyId in the destination region"):
        partner.client("rds").create_db_instance_read_replica(
            DBInstanceIdentifier="copy",
            SourceDBInstanceIdentifier=source["DBInstanceArn"],
            SourceRegion=REGION,
            **placed,
        )
    with pytest.raises(ClientError, match="is not in"):
        partner.client("rds").create_db_instance_read_replica(
            DBInstanceIdentifier="copy",
            SourceDBInstanceIdentifier=source["DBInstanceArn"],
            SourceRegion=REGION,
            KmsKeyId=source["KmsKeyId"],
            **placed,
        )
    home.client("s3").create_bucket(Bucket="plain", CreateBucketConfiguration={"LocationConstraint": REGION})
    home.client("s3").put_bucket_versioning(Bucket="plain", VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ClientError, match="Invalid Role"):
        home.client("s3").put_bucket_replication(
            Bucket="plain",
            ReplicationConfiguration={
                "Role": "",
                "Rules": [{"Status": "Enabled", "Prefix": "", "Destination": {"Bucket": "arn:aws:s3:::elsewhere"}}],
            },
        )
    with pytest.raises(ClientError, match="ExternalId"):
        home.sessions.base_session.client("sts", endpoint_url=moto_endpoint).assume_role(
            RoleArn=PORTAL_ROLE, RoleSessionName="portal", ExternalId=""
        )
