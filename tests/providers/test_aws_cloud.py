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
from providers.cloud import AwsCredentials, BucketSpec, KubernetesClusterSpec, NodePoolSpec
from tests.providers.conftest_cloud import ACCOUNT, REGION, TEST_RETRIES, aws_harness, moto_endpoint

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
            version="1.30",
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
