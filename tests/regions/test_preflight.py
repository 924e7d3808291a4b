"""Check access: a cloud account's and a cluster's permissions pre-flight from their pages and the API, kept and
audited, and a region build that refuses to start while its account's check fails.

The refusals run the AWS driver against moto in live mode, its role's policy
stored in moto's IAM and its policy simulation answered from there by a
botocore hook (moto does not implement SimulatePrincipalPolicy).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.audit.services import ACCESS_CHECKED
from access.models import AuditEvent
from approvals.models import ApprovalRequest
from portal.demo import Persona, username_of
from providers.access import AWS_POLICY_FILE, aws_policy
from providers.aws.cloud import AwsCloudDriver
from providers.cloud import AwsCredentials, CloudDriver
from regions import drivers, services
from regions.choices import ClusterKind, RegionRequestStatus
from regions.models import AccessCheckResult, CloudAccount, Cluster, RegionRequest
from regions.preflight import checks as preflight
from tests.providers.aws_iam_simulation import simulation_from_moto
from tests.providers.conftest_cloud import TEST_RETRIES, answer_eks_versions, moto_endpoint
from tests.regions.test_region_build import approve, request_region, second_admin
from workflows.models import Run

__all__ = ["moto_endpoint"]  # the session fixture, imported so pytest finds it

pytestmark = pytest.mark.django_db
ClientFor = Callable[[Persona | None], Client]
ADMIN = username_of(Persona.PLATFORM_ADMIN)


def aws_account() -> CloudAccount:
    return CloudAccount.objects.get(provider="aws")


def eks_cluster() -> Cluster:
    return Cluster.objects.get(region__provider="aws", region__code="eu-west-1", kind=ClusterKind.EKS)


# --- pages and API (the sandbox: every demo account and cluster is simulated) ---------------------------------------


def test_an_admin_checks_an_accounts_access_from_its_page_and_the_page_keeps_the_answer(
    demo: None, client_for: ClientFor
) -> None:
    admin = client_for(Persona.PLATFORM_ADMIN)
    account = aws_account()
    page = admin.get(reverse("regions:account", args=[account.pk]))
    assert "Not checked yet" in page.content.decode()
    assert "Check access" in page.content.decode()

    answer = admin.post(reverse("regions:account_check_access", args=[account.pk]))

    assert answer.status_code == 302
    assert answer["Location"] == reverse("regions:account", args=[account.pk])
    result = AccessCheckResult.objects.get(account=account)
    assert result.checked_by is not None
    assert (result.ok, result.method, result.checked_by.username) == (True, "sandbox", ADMIN)
    shown = admin.get(reverse("regions:account", args=[account.pk])).content.decode()
    assert "Passed" in shown
    assert "is simulated: it grants everything" in shown
    event = AuditEvent.objects.get(verb=ACCESS_CHECKED)
    assert (event.object_id, event.actor_label) == (str(account.pk), ADMIN)


def test_the_account_page_lists_each_missing_grant_and_links_the_policy_to_download(
    demo: None, client_for: ClientFor
) -> None:
    account = aws_account()
    AccessCheckResult.objects.create(
        account=account,
        checked_at=timezone.now(),
        ok=False,
        method="simulation",
        summary="IAM's policy simulation: 1 of 120 actions the portal uses are not allowed.",
        missing=[{"action": "kms:EnableKeyRotation", "grant": 'Allow "kms:EnableKeyRotation" in the role\'s policy.'}],
    )

    page = client_for(Persona.DEVELOPER).get(reverse("regions:account", args=[account.pk])).content.decode()

    assert "Failed" in page
    assert "<code>kms:EnableKeyRotation</code>" in page
    assert reverse("regions:policy_file", args=[AWS_POLICY_FILE]) in page
    assert "Check access" not in page  # a developer may read, not check


def test_the_shipped_policy_downloads_as_the_file_in_the_repository(demo: None, client_for: ClientFor) -> None:
    response = client_for(Persona.DEVELOPER).get(reverse("regions:policy_file", args=[AWS_POLICY_FILE]))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{AWS_POLICY_FILE}"'
    assert json.loads(response.content) == aws_policy()
    assert client_for(Persona.DEVELOPER).get(reverse("regions:policy_file", args=["settings.py"])).status_code == 404


def test_only_who_may_change_the_inventory_checks_access(demo: None, client_for: ClientFor) -> None:
    account, cluster = aws_account(), eks_cluster()
    region = cluster.region
    developer = client_for(Persona.DEVELOPER)

    assert developer.post(reverse("regions:account_check_access", args=[account.pk])).status_code == 403
    cluster_url = reverse("regions:cluster_check_access", args=[region.provider, region.code, cluster.name])
    assert developer.post(cluster_url).status_code == 403
    assert developer.post(f"/api/cloud-accounts/{account.pk}/check-access/").status_code == 403
    assert not AccessCheckResult.objects.exists()
    assert not AuditEvent.objects.filter(verb=ACCESS_CHECKED).exists()


def test_a_clusters_access_is_checked_from_its_page(demo: None, client_for: ClientFor) -> None:
    cluster = eks_cluster()
    region = cluster.region
    admin = client_for(Persona.PLATFORM_ADMIN)

    answer = admin.post(reverse("regions:cluster_check_access", args=[region.provider, region.code, cluster.name]))

    assert answer.status_code == 302
    assert AccessCheckResult.objects.get(cluster=cluster).ok
    page = admin.get(reverse("regions:cluster", args=[region.provider, region.code, cluster.name])).content.decode()
    assert "Passed" in page
    assert f"The cluster {cluster.name} is simulated" in page


def test_the_api_checks_access_and_shows_the_last_answer_with_the_account(demo: None, client_for: ClientFor) -> None:
    admin = client_for(Persona.PLATFORM_ADMIN)
    account, cluster = aws_account(), eks_cluster()
    assert admin.get(f"/api/cloud-accounts/{account.pk}/").json()["access_check"] is None

    checked = admin.post(f"/api/cloud-accounts/{account.pk}/check-access/")
    cluster_checked = admin.post(f"/api/clusters/{cluster.pk}/check-access/")

    assert checked.status_code == 200
    assert checked.json()["ok"] is True
    assert checked.json()["checked_by"] == ADMIN
    assert cluster_checked.json()["method"] == "sandbox"
    shown = client_for(Persona.AUDITOR).get(f"/api/cloud-accounts/{account.pk}/").json()["access_check"]
    assert shown["ok"] is True
    assert shown["missing"] == []


def test_the_api_answers_404_for_an_account_that_does_not_exist(demo: None, client_for: ClientFor) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post("/api/cloud-accounts/999999/check-access/")

    assert response.status_code == 404


# --- a build refused while the account's check fails (AWS on moto, live mode) ---------------------------------------


@pytest.fixture
def live_aws(demo: None, settings: Any, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The demo AWS account, live, reached through moto; its role's policy is what the test puts in moto's IAM."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=60).raise_for_status()
    settings.PROVIDER_MODE = "live"
    account = aws_account()
    simulate, asked = simulation_from_moto(moto_endpoint)

    def cloud_driver_in(checked: CloudAccount, region_code: str) -> CloudDriver:
        base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region_code)
        driver = AwsCloudDriver(
            AwsCredentials(role_arn=checked.role_arn, external_id=checked.role_external_id, region=region_code),
            base_session=base,
            endpoint_url=moto_endpoint,
            retry_policy=TEST_RETRIES,
            sleep=lambda seconds: None,
        )
        driver.on("before-call.iam.SimulatePrincipalPolicy", simulate)
        answer_eks_versions(driver)
        return driver

    monkeypatch.setattr(preflight, "cloud_driver_in", cloud_driver_in)
    monkeypatch.setattr(drivers, "cloud_driver_in", cloud_driver_in)  # the Kubernetes versions a request is offered
    iam = boto3.client(
        "iam",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role_name = account.role_arn.rsplit("/", 1)[1]
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))

    def grant(policy: dict[str, Any]) -> None:
        iam.put_role_policy(RoleName=role_name, PolicyName="platform-portal", PolicyDocument=json.dumps(policy))

    return {"account": account, "grant": grant, "asked": asked}


def lacking(*actions: str) -> dict[str, Any]:
    policy = aws_policy()
    return {
        **policy,
        "Statement": [
            {**statement, "Action": [action for action in statement["Action"] if action not in actions]}
            for statement in policy["Statement"]
        ],
    }


def test_approving_a_region_whose_account_lacks_permissions_starts_nothing_and_says_what_to_grant(
    live_aws: dict[str, Any],
) -> None:
    live_aws["grant"](lacking("ec2:CreateNatGateway", "eks:CreateAddon"))
    request = request_region()

    with pytest.raises(ValidationError) as refused:
        approve(request)

    message = refused.value.messages[0]
    assert message.startswith("The build cannot start: the portal's access to the AWS account aws-platform-prod")
    assert "It lacks ec2:CreateNatGateway, eks:CreateAddon." in message
    assert reverse("regions:account", args=[live_aws["account"].pk]) in message
    # Nothing started: no run, the request and its approval still wait.
    assert not Run.objects.exists()
    assert RegionRequest.objects.get(pk=request.pk).status == RegionRequestStatus.PENDING_APPROVAL
    assert ApprovalRequest.objects.get(subject_id=str(request.pk)).status == "pending"


def test_the_approval_page_shows_why_the_build_cannot_start(live_aws: dict[str, Any]) -> None:
    live_aws["grant"](lacking("rds:CreateDBSubnetGroup"))
    request = request_region()
    approval = ApprovalRequest.objects.get(subject_id=str(request.pk), purpose=services.BUILD)
    approver = Client()
    approver.force_login(second_admin())

    page = approver.post(reverse("approvals:decide", args=[approval.pk]), {"verdict": "approve", "reason": ""})

    assert page.status_code == 400
    assert "It lacks rds:CreateDBSubnetGroup." in page.content.decode()
    assert not Run.objects.exists()


def test_once_the_grant_is_fixed_the_build_starts_and_the_passing_check_is_kept(live_aws: dict[str, Any]) -> None:
    live_aws["grant"](lacking("ec2:CreateNatGateway"))
    request = request_region()
    with pytest.raises(ValidationError):
        approve(request)

    live_aws["grant"](aws_policy())
    approved = approve(request)

    assert approved.status == RegionRequestStatus.BUILDING
    kept = AccessCheckResult.objects.get(account=live_aws["account"])
    assert (kept.ok, kept.method, kept.region_code) == (True, "simulation", "eu-south-1")


def test_a_fresh_passing_check_is_trusted_and_a_stale_one_is_checked_again(live_aws: dict[str, Any]) -> None:
    account = live_aws["account"]
    live_aws["grant"](aws_policy())
    AccessCheckResult.objects.create(
        account=account, checked_at=timezone.now() - timedelta(minutes=5), ok=True, method="simulation", summary="ok"
    )
    # The role lost an action since the check; a fresh pass is still trusted for an hour.
    live_aws["grant"](lacking("ec2:CreateVpc"))

    assert approve(request_region()).status == RegionRequestStatus.BUILDING
    assert live_aws["asked"] == []

    AccessCheckResult.objects.filter(account=account).update(checked_at=timezone.now() - timedelta(minutes=61))
    with pytest.raises(ValidationError, match="It lacks ec2:CreateVpc"):
        approve(request_region(code="eu-north-1", dr_partner_code="eu-central-1"))
    assert live_aws["asked"] != []


def test_a_failing_check_is_never_trusted(live_aws: dict[str, Any]) -> None:
    AccessCheckResult.objects.create(
        account=live_aws["account"], checked_at=timezone.now(), ok=False, method="simulation", summary="missing"
    )
    live_aws["grant"](aws_policy())

    assert approve(request_region()).status == RegionRequestStatus.BUILDING
    assert AccessCheckResult.objects.get(account=live_aws["account"]).ok
