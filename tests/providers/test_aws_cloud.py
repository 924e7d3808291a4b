"""What only the AWS driver does: error translation, assumed-role sessions, EKS tokens, Cost Explorer paging."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from providers import errors
from providers.aws.cloud import AwsCloudDriver, idempotency_token
from providers.aws.errors import translate
from providers.cloud import (
    AwsCredentials,
    BucketSpec,
    CacheSpec,
    DatabaseSpec,
    KubernetesClusterSpec,
    NetworkSpec,
    NodePoolSpec,
    Placement,
)
from tests.providers.conftest_cloud import (
    ACCOUNT,
    EKS_CLUSTER_VERSIONS,
    REGION,
    TEST_RETRIES,
    answer_eks_versions,
    aws_harness,
    moto_endpoint,
)

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Operation"
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttling", 400, errors.Throttled),
        ("ThrottlingException", 400, errors.Throttled),
        ("RequestLimitExceeded", 503, errors.Throttled),
        ("DBInstanceNotFound", 404, errors.NotFound),
        ("ResourceNotFoundException", 404, errors.NotFound),
        ("InvalidVpcID.NotFound", 400, errors.NotFound),
        ("NoSuchBucket", 404, errors.NotFound),
        ("404", 404, errors.NotFound),
        ("AccessDenied", 403, errors.PermissionDenied),
        ("AccessDeniedException", 400, errors.PermissionDenied),
        ("UnauthorizedOperation", 403, errors.PermissionDenied),
        ("VpcLimitExceeded", 400, errors.QuotaExceeded),
        ("InstanceQuotaExceeded", 400, errors.QuotaExceeded),
        ("DBInstanceAlreadyExists", 400, errors.Conflict),
        ("DependencyViolation", 400, errors.Conflict),
        ("InvalidDBInstanceState", 400, errors.Busy),
        ("InvalidReplicationGroupState", 400, errors.Busy),
        ("OperationAborted", 409, errors.Busy),
        ("BucketAlreadyExists", 409, errors.NameTaken),
        ("InvalidParameterValue", 400, errors.InvalidRequest),
        ("ValidationError", 400, errors.InvalidRequest),
        ("InternalError", 500, errors.Unavailable),
        ("SomethingNew", 502, errors.Unavailable),
    ],
)
def test_botocore_error_codes_become_the_portals_typed_errors(
    code: str, status: int, expected: type[errors.ProviderError]
) -> None:
    assert type(translate(client_error(code, status))) is expected


@pytest.mark.parametrize(
    ("service", "code", "expected"),
    [
        ("eks", "InvalidRequestException", errors.Busy),
        ("secretsmanager", "InvalidRequestException", errors.InvalidRequest),
        ("ce", "LimitExceededException", errors.Throttled),
        ("iam", "LimitExceeded", errors.QuotaExceeded),
        ("eks", "ResourceLimitExceededException", errors.QuotaExceeded),
    ],
)
def test_a_code_means_what_the_service_that_answered_says_it_means(
    service: str, code: str, expected: type[errors.ProviderError]
) -> None:
    assert type(translate(client_error(code), service=service)) is expected


def test_a_request_botocore_refuses_to_send_is_invalid_not_retryable() -> None:
    error = translate(ParamValidationError(report="ExternalId too short"))

    assert isinstance(error, errors.InvalidRequest)
    assert not error.retryable


def test_a_connection_failure_is_unavailable_and_retryable() -> None:
    error = translate(EndpointConnectionError(endpoint_url="https://ec2.example"))

    assert isinstance(error, errors.Unavailable)
    assert error.retryable


def test_idempotency_tokens_are_stable_and_fit_ec2s_limit() -> None:
    token = idempotency_token("123456789012", "eu-west-1", "env-42", "nat")

    assert token == idempotency_token("123456789012", "eu-west-1", "env-42", "nat")
    assert token != idempotency_token("123456789012", "eu-west-1", "env-43", "nat")
    assert len(token) == 64


def test_the_assumed_role_session_is_reused_until_shortly_before_it_expires(moto_endpoint: str) -> None:
    assumed: list[str] = []
    now = [datetime.now(tz=UTC)]
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    base.events.register("before-call.sts.AssumeRole", lambda **_: assumed.append("assume"))
    driver = AwsCloudDriver(
        AwsCredentials(role_arn=f"arn:aws:iam::{ACCOUNT}:role/portal", external_id="portal-test", region=REGION),
        base_session=base,
        endpoint_url=moto_endpoint,
        retry_policy=TEST_RETRIES,
        clock=lambda: now[0],
    )

    driver.client("s3")
    driver.client("ec2")
    assert assumed == ["assume"]

    now[0] += timedelta(hours=1)
    driver.client("s3")
    assert assumed == ["assume", "assume"]


@pytest.mark.parametrize(("external_id", "sent"), [("", None), ("portal-test", "portal-test")])
def test_a_role_is_assumed_with_its_external_id_and_without_one_when_none_is_configured(
    moto_endpoint: str, external_id: str, sent: str | None
) -> None:
    requests: list[dict[str, Any]] = []
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    base.events.register("before-call.sts.AssumeRole", lambda params, **_: requests.append(dict(params["body"])))
    driver = AwsCloudDriver(
        AwsCredentials(role_arn=f"arn:aws:iam::{ACCOUNT}:role/portal", external_id=external_id, region=REGION),
        base_session=base,
        endpoint_url=moto_endpoint,
        retry_policy=TEST_RETRIES,
    )

    driver.client("s3").list_buckets()

    assert len(requests) == 1
    assert requests[0]["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/portal"
    assert requests[0].get("ExternalId") == sent


def test_the_eks_token_is_a_presigned_get_caller_identity_url_naming_the_cluster(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver

    token, expires_at = driver.kubernetes_token("env-42")

    assert token.startswith("k8s-aws-v1.")
    encoded = token.removeprefix("k8s-aws-v1.")
    url = urlparse(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    query = parse_qs(url.query)
    assert query["Action"] == ["GetCallerIdentity"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0]
    assert query["X-Amz-Expires"] == ["60"]
    assert expires_at <= datetime.now(tz=UTC) + timedelta(minutes=14)


def test_costs_are_read_across_cost_explorer_pages(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    pages: list[dict[str, Any]] = [
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
                    "Groups": [{"Keys": ["AWS KMS", "eu-west-1"], "Metrics": {"UnblendedCost": {"Amount": "0.03"}}}],
                }
            ],
            "NextPageToken": "page-2",
        },
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2026-11-02", "End": "2026-11-03"},
                    "Groups": [{"Keys": ["AWS KMS", "eu-west-1"], "Metrics": {"UnblendedCost": {"Amount": "0.04"}}}],
                }
            ]
        },
    ]
    asked: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(dict(params))

    def answer(**_: Any) -> tuple[SimpleNamespace, dict[str, Any]]:
        # A before-call handler that returns (http response, parsed body) stands in for the service.
        return SimpleNamespace(status_code=200), pages[len(asked) - 1]

    driver.on("before-parameter-build.ce.GetCostAndUsage", record)
    driver.on("before-call.ce.GetCostAndUsage", answer)

    items = driver.fetch_costs(date(2026, 11, 1), date(2026, 11, 3))

    assert [(item.usage_date, item.service, item.region, str(item.amount)) for item in items] == [
        (date(2026, 11, 1), "AWS KMS", "eu-west-1", "0.03"),
        (date(2026, 11, 2), "AWS KMS", "eu-west-1", "0.04"),
    ]
    assert asked[1]["NextPageToken"] == "page-2"
    assert asked[0]["GroupBy"] == [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "REGION"}]


def test_costs_cannot_be_grouped_by_two_tags_at_once(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver

    with pytest.raises(errors.InvalidRequest):
        driver.fetch_costs(date(2026, 11, 1), date(2026, 11, 3), ["portal:team", "portal:environment"])


def test_a_failed_assume_role_surfaces_as_a_typed_error(moto_endpoint: str) -> None:
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)

    def refuse(**_: Any) -> None:
        raise client_error("AccessDenied", 403)

    base.events.register("before-call.sts.AssumeRole", refuse)
    driver = AwsCloudDriver(
        AwsCredentials(role_arn=f"arn:aws:iam::{ACCOUNT}:role/portal", external_id="portal-test", region=REGION),
        base_session=base,
        endpoint_url=moto_endpoint,
    )

    with pytest.raises(errors.PermissionDenied):
        driver.describe_bucket("anything")


def test_a_gpu_pool_runs_the_nvidia_image_behind_a_gpu_taint(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    gpu = NodePoolSpec(name="gpu", kind="gpu", instance_type="g5.xlarge", min_size=0, max_size=2, desired_size=0)
    driver.ensure_kubernetes_cluster(
        KubernetesClusterSpec(
            name="env-42",
            version="1.34",
            subnet_ids=("subnet-1",),
            node_pools=(gpu,),
            control_plane_role=f"arn:aws:iam::{ACCOUNT}:role/eks",
            node_role=f"arn:aws:iam::{ACCOUNT}:role/nodes",
        )
    )

    group = driver.client("eks").describe_nodegroup(clusterName="env-42", nodegroupName="gpu")["nodegroup"]

    assert group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert group["labels"] == {"portal/pool-kind": "gpu"}


def test_throttling_carries_the_services_retry_after_hint() -> None:
    error = ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "slow down"},
            "ResponseMetadata": {"HTTPStatusCode": 429, "HTTPHeaders": {"retry-after": "7"}},
        },
        "GetCostAndUsage",
    )

    translated = translate(error)

    assert isinstance(translated, errors.Throttled)
    assert translated.retry_after == 7.0


def test_a_listing_whose_page_is_throttled_is_listed_again_in_full(moto_endpoint: str) -> None:
    cloud = aws_harness(moto_endpoint)
    driver = cloud.driver
    driver.ensure_bucket(BucketSpec(name="env-42-many"))
    for number in range(5):
        cloud.put_object("env-42-many", f"item-{number}", b"x")
    calls: list[str] = []

    def throttle_the_second_page(params: dict[str, Any], **_: Any) -> None:
        calls.append(params.get("ContinuationToken", "first"))
        if len(calls) == 2:
            raise client_error("SlowDown", 503)

    driver.on("before-parameter-build.s3.ListObjectsV2", throttle_the_second_page)
    listing = driver._pages("s3", "list_objects_v2", "Contents", Bucket="env-42-many", PaginationConfig={"PageSize": 2})

    assert [item["Key"] for item in listing] == [f"item-{number}" for number in range(5)]
    assert cloud.sleeps == [0.0]


# ---------------------------------------------------------------- busy resources, throttles and taken names


def refuse(code: str, status: int = 400, message: str = "", times: int = 1) -> tuple[Any, list[str]]:
    """A before-call handler answering the next ``times`` calls with this AWS error, and the calls it saw."""
    calls: list[str] = []

    def handler(model: Any, **_: Any) -> None:
        calls.append(model.name)
        if len(calls) <= times:
            error = {"Code": code, "Message": message or code}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, model.name)

    return handler, calls


def cluster_spec(*pools: NodePoolSpec) -> KubernetesClusterSpec:
    return KubernetesClusterSpec(
        name="env-42",
        version="1.34",
        subnet_ids=("subnet-1",),
        node_pools=pools,
        control_plane_role=f"arn:aws:iam::{ACCOUNT}:role/eks",
        node_role=f"arn:aws:iam::{ACCOUNT}:role/nodes",
    )


def placement(driver: AwsCloudDriver) -> dict[str, Any]:
    """A network's private subnets, id and CIDR: where the driver places a database or cache."""
    network = driver.ensure_network(
        NetworkSpec(
            "env-42-network", "10.42.0.0/16", (), ("10.42.0.0/24", "10.42.1.0/24"), ("10.42.10.0/24", "10.42.11.0/24")
        )
    )
    private = tuple(subnet.id for subnet in network.subnets if not subnet.public)
    return {"subnet_ids": private, "vpc_id": network.id, "allowed_cidr": network.cidr}


def dr_placement(partner: AwsCloudDriver) -> Placement:
    """A network in the partner's region of private subnets only (as a region build makes for its replica)."""
    network = partner.ensure_network(
        NetworkSpec("env-42-dr-network", "10.43.0.0/16", (), (), ("10.43.10.0/24", "10.43.11.0/24"), nat_gateway=False)
    )
    return Placement(tuple(subnet.id for subnet in network.subnets), network.id, network.cidr)


def test_a_database_being_modified_is_busy_so_the_step_waits_instead_of_failing(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    driver.ensure_database(DatabaseSpec("env-42-db", "16.4", "db.t4g.medium", 20, 7, **placement(driver)))
    handler, calls = refuse("InvalidDBInstanceState", message="Instance env-42-db is not in available state.")
    driver.on("before-call.rds.DeleteDBInstance", handler)

    with pytest.raises(errors.Busy) as raised:
        driver.delete_database("env-42-db")

    assert raised.value.retryable
    assert calls == ["DeleteDBInstance"], "a busy resource is not retried on the spot"


def test_a_cache_whose_replication_group_is_busy_is_waited_for(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    driver.ensure_cache(CacheSpec(name="env-42-redis", node_type="cache.t4g.small", **placement(driver)))
    handler, calls = refuse("InvalidReplicationGroupState", message="Replication group must be in available state")
    driver.on("before-call.elasticache.DeleteReplicationGroup", handler)

    with pytest.raises(errors.Busy):
        driver.delete_cache("env-42-redis")

    assert calls == ["DeleteReplicationGroup"]


def test_an_eks_cluster_busy_with_an_update_or_its_node_groups_is_waited_for(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    driver.ensure_kubernetes_cluster(cluster_spec())
    busy_cluster, _ = refuse("InvalidRequestException", message="Cluster env-42 is currently UPDATING")
    driver.on("before-call.eks.CreateNodegroup", busy_cluster)
    in_use, _ = refuse("ResourceInUseException", 409, "Cluster has nodegroups attached")
    driver.on("before-call.eks.DeleteCluster", in_use)
    pool = NodePoolSpec(
        name="general", kind="general", instance_type="m6i.large", min_size=1, max_size=2, desired_size=1
    )

    with pytest.raises(errors.Busy):
        driver.ensure_node_pool("env-42", pool, f"arn:aws:iam::{ACCOUNT}:role/nodes")
    with pytest.raises(errors.Busy):
        driver.delete_kubernetes_cluster("env-42")


def test_an_eks_cluster_that_already_exists_is_adopted_not_waited_for(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    driver.ensure_kubernetes_cluster(cluster_spec())
    not_seen, _ = refuse("ResourceNotFoundException", 404, "No cluster found for name: env-42.")
    driver.on("before-call.eks.DescribeCluster", not_seen)  # lost the race: moto then says "already exists"

    info = driver.ensure_kubernetes_cluster(cluster_spec())

    assert info.name == "env-42"


def test_cost_explorers_limit_exceeded_is_its_throttle_and_is_retried(moto_endpoint: str) -> None:
    cloud = aws_harness(moto_endpoint)
    driver = cloud.driver
    handler, calls = refuse("LimitExceededException", message="You made too many calls in a short period of time.")

    def answer(**_: Any) -> tuple[SimpleNamespace, dict[str, Any]]:
        return SimpleNamespace(status_code=200), {"ResultsByTime": []}

    driver.on("before-call.ce.GetCostAndUsage", handler)
    driver.on("before-call.ce.GetCostAndUsage", answer)

    assert driver.fetch_costs(date(2026, 11, 1), date(2026, 11, 3)) == []
    assert calls == ["GetCostAndUsage", "GetCostAndUsage"]
    assert cloud.sleeps == [0.0]


def test_a_bucket_name_another_account_holds_is_name_taken_not_ours_and_not_permission_denied(
    moto_endpoint: str,
) -> None:
    driver = aws_harness(moto_endpoint).driver
    forbidden, _ = refuse("403", 403, "Forbidden", times=10)  # HeadBucket on someone else's bucket: a bare 403
    driver.on("before-call.s3.HeadBucket", forbidden)
    taken, created = refuse("BucketAlreadyExists", 409, "The requested bucket name is not available.", times=10)
    driver.on("before-call.s3.CreateBucket", taken)
    tagged: list[str] = []
    driver.on("before-call.s3.PutBucketTagging", lambda model, **_: tagged.append(model.name))

    with pytest.raises(errors.NameTaken) as raised:
        driver.ensure_bucket(BucketSpec(name="env-42-assets"))

    assert not raised.value.retryable
    assert raised.value.message == (
        'The bucket name "env-42-assets" is taken by another AWS account (S3 bucket names are global); '
        "choose another name."
    )
    assert created == ["CreateBucket"], "a taken name is not retried"
    assert tagged == [], "nothing is written to a bucket that is not ours"


def test_a_bucket_taken_between_looking_and_creating_is_name_taken(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    taken, _ = refuse("BucketAlreadyExists", 409, "The requested bucket name is not available.")
    driver.on("before-call.s3.CreateBucket", taken)

    with pytest.raises(errors.NameTaken):
        driver.ensure_bucket(BucketSpec(name="env-42-assets"))


def test_our_own_bucket_we_may_not_list_is_still_ours(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    driver.ensure_bucket(BucketSpec(name="env-42-assets"))
    forbidden, _ = refuse("403", 403, "Forbidden")
    driver.on("before-call.s3.HeadBucket", forbidden)
    owned, _ = refuse("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded.")
    driver.on("before-call.s3.CreateBucket", owned)

    info = driver.ensure_bucket(BucketSpec(name="env-42-assets", tags={"portal:team": "payments"}))

    assert info.tags["portal:team"] == "payments"


def test_eks_versions_say_which_are_in_standard_and_extended_support_and_which_is_the_default(
    moto_endpoint: str,
) -> None:
    driver = aws_harness(moto_endpoint).driver

    versions = driver.kubernetes_versions()

    assert [(info.version, info.support, info.default) for info in versions] == [
        ("1.35", "standard", False),
        ("1.34", "standard", True),
        ("1.33", "extended", False),
        ("1.32", "extended", False),
    ]  # the Outposts-only 1.31 is not a version the portal can build
    assert versions[0].end_of_standard_support == date(2027, 3, 27)
    assert versions[1].patch_versions == ("1.34.2",)


def test_eks_versions_leave_out_a_version_past_its_support(moto_endpoint: str) -> None:
    driver = aws_harness(moto_endpoint).driver
    retired = {"clusterVersion": "1.29", "clusterType": "eks", "versionStatus": "UNSUPPORTED", "defaultVersion": False}
    answer_eks_versions(driver, [retired, *EKS_CLUSTER_VERSIONS])

    assert "1.29" not in [info.version for info in driver.kubernetes_versions()]
