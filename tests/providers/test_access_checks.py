"""The permissions pre-flight of each driver: AWS through IAM's policy simulation (answered from moto's IAM by a
botocore hook, as moto does not implement SimulatePrincipalPolicy) with probes and EC2 dry runs when the
simulation is refused; Azure through ARM's permissions listing on the fake; Kubernetes through
SelfSubjectAccessReviews on the fake API server. What is needed comes from the shipped policy files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from providers import errors
from providers.access import (
    aws_actions,
    aws_policy,
    azure_actions,
    azure_data_actions,
    check_access,
    kubernetes_permissions,
)
from providers.aws.cloud import AwsCloudDriver
from providers.cloud import AwsCredentials
from providers.cluster import ResourceQuotaSpec
from providers.kubernetes.driver import KubernetesClusterDriver
from providers.retry import RetryPolicy
from tests.providers import live_objects
from tests.providers.aws_iam_simulation import refuse, simulation_from_moto
from tests.providers.azure_fake import FakeAzure
from tests.providers.conftest_cloud import (
    ACCOUNT,
    AZURE_RESOURCE_GROUP,
    REGION,
    TEST_RETRIES,
    azure_harness,
    moto_endpoint,
)
from tests.providers.kube_fake import ACCESS_REVIEWS, FakeKubeApi

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

ROLE = f"arn:aws:iam::{ACCOUNT}:role/portal"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}


def moto_iam(endpoint: str) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def role_with(endpoint: str, policy: dict[str, Any]) -> None:
    """The portal's role in moto, with ``policy`` as its only (inline) policy."""
    iam = moto_iam(endpoint)
    iam.create_role(RoleName="portal", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="portal", PolicyName="platform-portal", PolicyDocument=json.dumps(policy))


def without(policy: dict[str, Any], *removed: str) -> dict[str, Any]:
    """The policy minus some actions (wherever they are listed)."""
    return {
        **policy,
        "Statement": [
            {**statement, "Action": [action for action in statement["Action"] if action not in removed]}
            for statement in policy["Statement"]
        ],
    }


@pytest.fixture
def aws_driver(moto_endpoint: str) -> AwsCloudDriver:
    """The AWS driver on a fresh moto (a test that needs the policy simulation asks for it: `simulating`)."""
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=60).raise_for_status()
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    driver = AwsCloudDriver(
        AwsCredentials(role_arn=ROLE, external_id="portal-test", region=REGION),
        base_session=base,
        endpoint_url=moto_endpoint,
        retry_policy=TEST_RETRIES,
        sleep=lambda seconds: None,
    )
    return driver


def simulating(driver: AwsCloudDriver, endpoint: str) -> list[dict[str, Any]]:
    """Answer the driver's policy simulations from moto's IAM (moto does not implement them), in pages of 40;
    the simulation requests the driver sent."""
    simulate, asked = simulation_from_moto(endpoint, page_size=40)
    driver.on("before-call.iam.SimulatePrincipalPolicy", simulate)
    return asked


# --- AWS ---------------------------------------------------------------------------------------------------------


def test_a_role_granted_the_shipped_policy_passes_the_simulation_of_every_action(
    aws_driver: AwsCloudDriver, moto_endpoint: str
) -> None:
    driver = aws_driver
    role_with(moto_endpoint, aws_policy())
    asked = simulating(driver, moto_endpoint)

    result = check_access(driver)

    assert result.ok, result.summary
    assert (result.method, result.checked, result.missing) == ("simulation", len(aws_actions()), ())
    # Every action of the shipped file was asked about, for the role's ARN, across the simulation's pages.
    assert {action for request in asked for action in request["ActionNames"]} == set(aws_actions())
    assert {request["PolicySourceArn"] for request in asked} == {ROLE}
    assert len(asked) > 1
    assert result.identity.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/portal/")


def test_a_role_whose_policy_lacks_actions_is_told_exactly_which_to_allow(
    aws_driver: AwsCloudDriver, moto_endpoint: str
) -> None:
    driver = aws_driver
    role_with(moto_endpoint, without(aws_policy(), "rds:CreateDBSubnetGroup", "iam:PassRole"))
    simulating(driver, moto_endpoint)

    result = check_access(driver)

    assert not result.ok
    assert [item.action for item in result.missing] == ["rds:CreateDBSubnetGroup", "iam:PassRole"]
    assert "aws-portal-policy.json" in result.missing[0].grant
    assert "2 of" in result.summary


def test_an_explicit_deny_beats_the_allow(aws_driver: AwsCloudDriver, moto_endpoint: str) -> None:
    driver = aws_driver
    policy = aws_policy()
    role_with(
        moto_endpoint,
        {**policy, "Statement": [*policy["Statement"], {"Effect": "Deny", "Action": "kms:Put*", "Resource": "*"}]},
    )
    simulating(driver, moto_endpoint)

    result = check_access(driver)

    assert [item.action for item in result.missing] == ["kms:PutKeyPolicy"]


def test_a_role_that_may_not_simulate_is_probed_with_reads_and_ec2_dry_runs(
    aws_driver: AwsCloudDriver, moto_endpoint: str
) -> None:
    driver = aws_driver
    role_with(moto_endpoint, aws_policy())
    driver.on("before-call.iam.SimulatePrincipalPolicy", refuse("AccessDenied", "not authorized"))
    # What real EC2 answers a dry run the role may not make; moto answers DryRunOperation to every dry run.
    driver.on("before-call.ec2.CreateVpc", refuse("UnauthorizedOperation", "You are not authorized"))
    sent: list[dict[str, Any]] = []
    driver.on("provide-client-params.ec2.*", lambda params, **_: sent.append(dict(params)))

    result = check_access(driver)

    assert not result.ok
    assert result.method == "probes"
    assert [item.action for item in result.missing] == ["iam:SimulatePrincipalPolicy", "ec2:CreateVpc"]
    assert "Allow iam:SimulatePrincipalPolicy for a complete check" in result.summary
    # Every EC2 write was a dry run: nothing was created.
    writes = [params for params in sent if "CidrBlock" in params or "GroupName" in params or "Domain" in params]
    assert writes
    assert all(params.get("DryRun") is True for params in writes)
    assert driver.client("ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.255.0.0/16"]}])["Vpcs"] == []


def test_a_role_that_cannot_be_assumed_gets_a_message_about_its_trust_and_external_id(moto_endpoint: str) -> None:
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    # What STS answers when the trust policy does not name the caller or the external id differs.
    base.events.register(
        "before-call.sts.AssumeRole", refuse("AccessDenied", "not authorized to perform sts:AssumeRole")
    )
    driver = AwsCloudDriver(
        AwsCredentials(role_arn=ROLE, external_id="wrong-id", region=REGION),
        base_session=base,
        endpoint_url=moto_endpoint,
        retry_policy=TEST_RETRIES,
        sleep=lambda seconds: None,
    )

    result = check_access(driver)

    assert not result.ok
    assert result.method == "identity"
    assert ROLE in result.summary
    assert "trust policy" in result.summary
    assert "external id" in result.summary
    assert [item.action for item in result.missing] == ["sts:AssumeRole"]


def test_a_role_in_another_account_than_the_portal_has_is_named(aws_driver: AwsCloudDriver, moto_endpoint: str) -> None:
    driver = aws_driver
    driver.account = "210987654321"

    result = check_access(driver)

    assert not result.ok
    assert "answers as account 123456789012" in result.summary
    assert "210987654321" in result.summary


def test_a_simulation_aws_cannot_answer_is_an_error_not_a_verdict(
    aws_driver: AwsCloudDriver, moto_endpoint: str
) -> None:
    driver = aws_driver
    role_with(moto_endpoint, aws_policy())
    driver.on("before-call.iam.SimulatePrincipalPolicy", refuse("ServiceUnavailable", "try later"))

    with pytest.raises(errors.Unavailable):
        check_access(driver)


# --- Azure -------------------------------------------------------------------------------------------------------


def permission_requests(fake: FakeAzure) -> list[str]:
    return [url for method, url in fake.requests if "Microsoft.Authorization/permissions" in url]


def test_a_principal_with_every_action_passes_on_the_subscription_before_the_resource_group_exists() -> None:
    harness = azure_harness()
    fake: FakeAzure = harness.backend

    result = check_access(harness.driver)

    assert result.ok, result.summary
    assert result.checked == len(azure_actions()) + len(azure_data_actions())
    (url,) = permission_requests(fake)
    assert "/resourceGroups/" not in url
    assert "api-version=2022-04-01" in url
    assert not fake.groups  # the check made nothing


def test_a_principal_without_needed_actions_is_told_each_to_add() -> None:
    harness = azure_harness()
    fake: FakeAzure = harness.backend
    fake.groups[AZURE_RESOURCE_GROUP.lower()] = {"name": AZURE_RESOURCE_GROUP, "location": "westeurope"}
    # Contributor-like: everything but role assignments, and no private endpoints; blobs readable, keys not.
    fake.permissions = [
        {
            "actions": ["*"],
            "notActions": ["Microsoft.Authorization/*/Write", "Microsoft.Network/privateEndpoints/*"],
            "dataActions": ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"],
            "notDataActions": [],
        }
    ]

    result = check_access(harness.driver)

    assert not result.ok
    assert [item.action for item in result.missing] == [
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Network/privateEndpoints/delete",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups/write",
        "Microsoft.Network/privateEndpoints/read",
        "Microsoft.Network/privateEndpoints/write",
        "Microsoft.KeyVault/vaults/keys/delete",
        "Microsoft.KeyVault/vaults/keys/read",
    ]
    assert "DataActions" in result.missing[-1].grant
    assert "azure-portal-role.json" in result.missing[-1].grant
    # The resource group exists: its permissions (its own and the subscription's) are the ones read.
    (url,) = permission_requests(fake)
    assert f"/resourceGroups/{AZURE_RESOURCE_GROUP}/providers/" in url


def test_a_principal_that_may_not_read_its_permissions_is_told_to_assign_the_role() -> None:
    harness = azure_harness()
    harness.backend.fail_next("GET", "Microsoft.Authorization/permissions", 403, 1)

    result = check_access(harness.driver)

    assert not result.ok
    assert "azure-portal-role.json" in result.summary


# --- Kubernetes --------------------------------------------------------------------------------------------------


@pytest.fixture
def kube() -> Iterator[tuple[FakeKubeApi, KubernetesClusterDriver]]:
    from kubernetes import client

    fake = FakeKubeApi()
    host = fake.start()
    configuration = client.Configuration()
    configuration.host = host
    yield fake, KubernetesClusterDriver(configuration, retry_policy=RetryPolicy(attempts=3, base_seconds=0.001))
    fake.stop()


def test_a_cluster_identity_allowed_every_verb_passes_one_access_review_each(
    kube: tuple[FakeKubeApi, KubernetesClusterDriver],
) -> None:
    fake, driver = kube

    result = check_access(driver)

    assert result.ok, result.summary
    reviews = [path for method, path, _ in fake.requests if method == "POST" and path.startswith(ACCESS_REVIEWS)]
    assert len(reviews) == result.checked == len(kubernetes_permissions())
    assert fake.objects("Namespace") == []  # nothing was created


def test_a_cluster_identity_denied_verbs_is_told_which_to_bind(
    kube: tuple[FakeKubeApi, KubernetesClusterDriver],
) -> None:
    fake, driver = kube
    fake.deny("create", "networkpolicies", "networking.k8s.io")
    fake.deny("bind", "clusterroles", "rbac.authorization.k8s.io")

    result = check_access(driver)

    assert not result.ok
    assert [item.action for item in result.missing] == [
        "bind clusterroles.rbac.authorization.k8s.io",
        "create networkpolicies.networking.k8s.io",
    ]
    assert "kubernetes-portal-role.json" in result.missing[0].grant


def test_an_access_review_without_attributes_is_refused_as_the_api_server_does(
    kube: tuple[FakeKubeApi, KubernetesClusterDriver],
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    _, driver = kube
    with pytest.raises(ApiException) as refused:
        client.AuthorizationV1Api(driver.api_client).create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec())
        )
    assert refused.value.status == 422


def test_the_shipped_policies_are_valid_documents() -> None:
    policy = aws_policy()
    assert policy["Version"] == "2012-10-17"
    assert all(statement["Effect"] == "Allow" and statement["Resource"] == "*" for statement in policy["Statement"])
    # IAM refuses a managed policy over 6,144 characters (whitespace not counted).
    assert len(json.dumps(policy, separators=(",", ":"))) <= 6144
    assert len(aws_actions()) == len(set(aws_actions()))
    assert all(action.count(":") == 1 for action in aws_actions())
    assert all(action.count("/") >= 1 for action in azure_actions())


def test_a_probe_aws_cannot_answer_is_an_error_not_a_refusal(
    aws_driver: AwsCloudDriver,
) -> None:
    driver = aws_driver
    driver.on("before-call.iam.SimulatePrincipalPolicy", refuse("AccessDenied", "not authorized"))
    driver.on("before-call.eks.ListClusters", refuse("ServiceUnavailable", "try later"))

    with pytest.raises(errors.Unavailable):
        check_access(driver)


def test_every_kubernetes_request_of_the_clusters_work_is_allowed_by_the_shipped_cluster_role(
    kube: tuple[FakeKubeApi, KubernetesClusterDriver],
) -> None:
    from providers.access import KubernetesPermission
    from tests.providers.test_cluster_contract import provision

    fake, driver = kube
    fake.install("argoproj.io/v1alpha1", "applications", "Application")
    fake.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}})
    # What provisioning and the portal's reads do, twice, so the second round patches what differs.
    for cpu in ("8", "16"):
        for step in provision(driver):
            step()
        driver.ensure_resource_quota(ResourceQuotaSpec("payments-dev", {"requests.cpu": cpu}))
    driver.list_workloads()
    driver.list_namespaces()
    driver.namespace_usage()
    driver.list_nodes()
    driver.list_custom_resources("argoproj.io", "v1alpha1", "applications")
    # A workload's Kubernetes panel: its pods, their events and a container's log.
    fake.put(live_objects.deployment("payments-dev", "api"))
    fake.put(live_objects.pod("payments-dev", "api-0", {"app": "api"}))
    driver.workload_pods("Deployment", "payments-dev", "api")
    driver.events("payments-dev", [("Deployment", "api"), ("Pod", "api-0")])
    driver.container_log("payments-dev", "api-0", "api")
    check_access(driver)
    driver.delete_namespace("payments-dev")

    used: set[KubernetesPermission] = set()
    for method, path, _ in fake.requests:
        if path.startswith(ACCESS_REVIEWS):
            continue  # every authenticated identity may review its own access (system:basic-user)
        # /api/v1/…, /apis/<group>/<version>/…, then [namespaces/<namespace>/]<plural>[/<name>]
        parts = [part for part in urlsplit(path).path.split("/") if part]
        group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
        if rest[0] == "namespaces" and len(rest) > 2:
            rest = rest[2:]
        plural, name = rest[0], rest[1] if len(rest) > 1 else None
        if len(rest) > 2:  # a subresource: pods/<name>/log is "get" on "pods/log"
            plural = f"{plural}/{rest[2]}"
        verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch", "DELETE": "delete"}[method]
        used.add(KubernetesPermission(group, plural, verb))
    assert KubernetesPermission("networking.k8s.io", "networkpolicies", "create") in used
    assert {KubernetesPermission("", "pods/log", "get"), KubernetesPermission("", "events", "list")} <= used
    assert sorted(p.label for p in used - set(kubernetes_permissions())) == []
