"""The shipped least-privilege policies are complete: every call the drivers make while building a region, using
it, rolling it back and checking their own access is allowed by them.

AWS: a botocore hook on each driver (``provide-client-params``, emitted before ``before-call``) records every operation
sent to moto (``ec2:CreateVpc``…), mapped to the IAM action that authorises
it (S3's API names differ from its IAM actions; the table below follows the
"Permissions" section of each S3 operation's reference). Azure: every
request the fake Azure receives is mapped to the role-based access control
operation that authorises it (``PUT …/Microsoft.Network/virtualNetworks/x`` is
``Microsoft.Network/virtualNetworks/write``; blob and Key Vault requests are
data actions). A call added to a driver without adding its action to
the policy fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from providers.access import aws_allows, azure_role_allows, check_access
from regions import services
from regions.models import RegionRequest
from regions.plan import region_plan
from tests.providers.aws_iam_simulation import refuse
from tests.providers.azure_fake import FakeAzure
from tests.regions.test_region_build import admin, approve, request_region, run_to_the_end
from tests.regions.test_region_clouds import aws, azure, azure_request, kube, moto_endpoint
from workflows.models import Run, RunStatus

__all__ = ["aws", "azure", "kube", "moto_endpoint"]  # fixtures, imported so pytest finds them

pytestmark = pytest.mark.django_db
TODAY = datetime.now(tz=UTC).date()

# IAM service prefixes that differ from botocore's signing name.
IAM_PREFIX = {"monitoring": "cloudwatch"}
# S3 operations whose IAM action has another name ("Permissions" in each operation's API reference).
S3_ACTIONS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListBuckets": "s3:ListAllMyBuckets",
    "HeadObject": "s3:GetObject",
    "DeleteObjects": "s3:DeleteObject",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "PutBucketReplication": "s3:PutReplicationConfiguration",
    "GetBucketReplication": "s3:GetReplicationConfiguration",
    "DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "DeleteBucketTagging": "s3:PutBucketTagging",
}
# Operations no IAM policy governs: "No permissions are required to perform this operation" (GetCallerIdentity).
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}


def iam_action(model: Any) -> str:
    """The IAM action that authorises one botocore operation."""
    prefix = IAM_PREFIX.get(model.service_model.signing_name, model.service_model.signing_name)
    if prefix == "s3" and model.name in S3_ACTIONS:
        return S3_ACTIONS[model.name]
    return f"{prefix}:{model.name}"


def recording(driver: Any, sent: set[str]) -> None:
    # Emitted for every operation before any before-call hook can answer or refuse it.
    driver.on("provide-client-params", lambda model, **_: sent.add(iam_action(model)))


def test_every_aws_call_of_a_build_its_use_its_rollback_and_the_check_is_in_the_shipped_policy(
    aws: dict[str, Any],
) -> None:
    sent: set[str] = set()
    for code in ("eu-south-1", "eu-west-3"):
        recording(aws["driver"](code), sent)
    request = approve(request_region())
    run = services.build_run(request)
    assert run is not None
    last = run.steps.order_by("position").last()
    assert last is not None
    # The last step fails for good, so the run can be rolled back with everything the cloud made.
    last.params = {**last.params, "settings": {**last.params["settings"], "cluster": "no-such"}}
    last.save(update_fields=["params"])
    assert run_to_the_end(run).status == RunStatus.FAILED
    cloud = aws["driver"]("eu-south-1")
    names = {item.kind: item.name for item in region_plan(request).resources}
    # What the portal does with a built region: status checks, objects, costs, cluster tokens.
    cloud.describe_network(names["network"])
    cloud.describe_kubernetes_cluster(names["cluster"])
    cloud.describe_database(names["database"])
    cloud.describe_cache(names["cache"])
    cloud.describe_bucket(names["bucket"])
    cloud.describe_key(names["key"])
    cloud.list_objects(names["bucket"])
    cloud.kubernetes_token(names["cluster"])
    cloud.fetch_costs(TODAY - timedelta(days=2), TODAY, ["portal:environment"])
    # The pre-flight's own calls: the simulation refused, so its probes and dry runs run too.
    cloud.on("before-call.iam.SimulatePrincipalPolicy", refuse("AccessDenied", "not authorized"))
    check_access(cloud)
    services.region_build_rollback(actor=admin(), request_id=request.pk)
    failed = Run.objects.get(pk=run.pk)
    assert run_to_the_end(failed.undo_runs.get()).status == RunStatus.SUCCEEDED

    sent -= NO_PERMISSION_NEEDED
    assert {"ec2:CreateVpc", "eks:CreateCluster", "rds:DeleteDBInstance", "iam:SimulatePrincipalPolicy"} <= sent
    assert sorted(action for action in sent if not aws_allows(action)) == []


def azure_action(method: str, url: str) -> tuple[str, bool] | None:
    """The Azure RBAC operation that authorises one request, and whether it is a data action.

    None for requests no role governs: Entra ID's sign-in, and the fake's own
    operation-status addresses (real ARM's are each resource provider's
    ``locations/…operations…/read``, which the role holds).
    """
    parsed = urlparse(url)
    host, path = parsed.hostname or "", unquote(parsed.path)
    verb = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(method, "action")
    if host == "login.microsoftonline.com" or "/fakeOperations/" in path:
        return None
    if host.endswith(".blob.core.windows.net"):
        return f"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/{verb}", True
    if host.endswith(".vault.azure.net"):
        # Reading a deleted key back (the driver's soft delete waits for it) is among the keys' read permissions.
        return f"Microsoft.KeyVault/vaults/keys/{verb}", True
    if "/providers/" not in path:
        parts = [part for part in path.split("/") if part]
        if len(parts) >= 4 and parts[2].lower() == "resourcegroups":
            return f"Microsoft.Resources/subscriptions/resourceGroups/{verb}", False
        return f"Microsoft.Resources/subscriptions/{verb}", False
    segments = path.rsplit("/providers/", 1)[1].split("/")
    resource_type = "/".join([segments[0], *segments[1::2]])
    if path.endswith("/providers/Microsoft.Insights/eventtypes/management/values"):
        return "Microsoft.Insights/eventtypes/values/read", False
    if len(segments) % 2 == 0 and method == "POST":  # …/name/operation, or a provider-level operation
        parent = "/".join([segments[0], *segments[1:-1:2]])
        return f"{parent}/{segments[-1]}/action", False
    return f"{resource_type}/{verb}", False


def test_every_azure_request_of_a_build_its_use_its_rollback_and_the_check_is_in_the_shipped_role(
    azure: dict[str, Any], kube: Path
) -> None:
    fake: FakeAzure = azure["fake"]
    request: RegionRequest = approve(azure_request())
    run = services.build_run(request)
    assert run is not None
    last = run.steps.order_by("position").last()
    assert last is not None
    last.params = {**last.params, "settings": {**last.params["settings"], "cluster": "no-such"}}
    last.save(update_fields=["params"])
    assert run_to_the_end(run).status == RunStatus.FAILED
    cloud = azure["driver"]("francecentral")
    names = {item.kind: item.name for item in region_plan(request).resources}
    cloud.describe_network(names["network"])
    cloud.describe_kubernetes_cluster(names["cluster"])
    cloud.describe_database(names["database"])
    cloud.describe_cache(names["cache"])
    cloud.describe_bucket(names["bucket"])
    cloud.describe_key(names["key"])
    cloud.list_objects(names["bucket"])
    cloud.fetch_costs(TODAY - timedelta(days=2), TODAY, ["portal:environment"])
    check_access(cloud)
    services.region_build_rollback(actor=admin(), request_id=request.pk)
    failed = Run.objects.get(pk=run.pk)
    assert run_to_the_end(failed.undo_runs.get()).status == RunStatus.SUCCEEDED

    asked = {action for method, url in fake.requests if (action := azure_action(method, url)) is not None}
    assert ("Microsoft.ContainerService/managedClusters/write", False) in asked
    assert ("Microsoft.Authorization/permissions/read", False) in asked
    assert sorted(action for action, data in asked if not azure_role_allows(action, data=data)) == []
