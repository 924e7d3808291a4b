"""Validation of the inventory models: what the admin and every service refuse to store."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from regions.choices import AuthMethod, ClusterKind, Provider, RegionStatus, ResidencyZone
from regions.fields import EncryptedTextField
from regions.models import CloudAccount, NodePool, Region
from tests.factories import (
    CentreServerFactory,
    CloudAccountFactory,
    ClusterFactory,
    NodePoolFactory,
    RegionFactory,
)

pytestmark = pytest.mark.django_db

AZURE_SUBSCRIPTION = "0f8fad5b-d9cb-469f-a165-70867728950e"


def errors_of(instance: object) -> dict[str, list[str]]:
    """The field errors ``full_clean()`` raises; fails the test if it raises none."""
    with pytest.raises(ValidationError) as raised:
        instance.full_clean()  # type: ignore[attr-defined]
    return raised.value.message_dict


def aws_account(**overrides: str) -> CloudAccount:
    fields = {
        "name": "aws-test",
        "provider": Provider.AWS,
        "external_id": "123456789012",
        "auth_method": AuthMethod.AWS_ASSUME_ROLE,
        "role_arn": "arn:aws:iam::123456789012:role/portal",
    }
    return CloudAccount(**{**fields, **overrides})


def azure_account(**overrides: str) -> CloudAccount:
    fields = {
        "name": "azure-test",
        "provider": Provider.AZURE,
        "external_id": AZURE_SUBSCRIPTION,
        "tenant_id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
        "auth_method": AuthMethod.AZURE_WORKLOAD_IDENTITY,
        "client_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    }
    return CloudAccount(**{**fields, **overrides})


# --- cloud accounts ----------------------------------------------------------


def test_a_well_formed_aws_account_is_accepted() -> None:
    aws_account().full_clean()


@pytest.mark.parametrize("account_id", ["12345678901", "1234567890123", "12345678901a", "1234-5678-9012"])
def test_an_aws_account_id_must_be_exactly_twelve_digits(account_id: str) -> None:
    errors = errors_of(aws_account(external_id=account_id))

    assert errors["external_id"] == ["An AWS account id is exactly 12 digits."]


def test_a_well_formed_azure_subscription_is_accepted_in_any_letter_case() -> None:
    azure_account().full_clean()
    azure_account(name="azure-upper", external_id=AZURE_SUBSCRIPTION.upper()).full_clean()


@pytest.mark.parametrize("subscription", ["123456789012", "not-a-uuid", AZURE_SUBSCRIPTION[:-1]])
def test_an_azure_subscription_id_must_be_a_uuid(subscription: str) -> None:
    errors = errors_of(azure_account(external_id=subscription))

    assert "UUID" in errors["external_id"][0]


@pytest.mark.parametrize(
    "role_arn",
    ["", "portal", "arn:aws:iam::12345:role/portal", "arn:aws:iam::123456789012:user/portal", "arn:aws:s3:::bucket"],
)
def test_assuming_a_role_needs_a_valid_role_arn(role_arn: str) -> None:
    errors = errors_of(aws_account(role_arn=role_arn))

    assert "ARN of the role" in errors["role_arn"][0]


def test_a_role_arn_in_another_aws_partition_is_accepted() -> None:
    aws_account(role_arn="arn:aws-us-gov:iam::123456789012:role/platform/portal").full_clean()


def test_an_auth_method_of_the_other_cloud_is_refused() -> None:
    errors = errors_of(aws_account(auth_method=AuthMethod.AZURE_MANAGED_IDENTITY, role_arn=""))

    assert errors["auth_method"] == ["Azure: managed identity cannot be used for AWS."]


def test_an_unknown_provider_or_auth_method_is_a_validation_error_not_a_crash() -> None:
    errors = errors_of(CloudAccount(name="gcp", provider="gcp", external_id="1", auth_method="magic"))

    assert "provider" in errors
    assert "auth_method" in errors


def test_azure_client_secret_auth_needs_a_secret_reference() -> None:
    errors = errors_of(azure_account(auth_method=AuthMethod.AZURE_CLIENT_SECRET))

    assert "secret-store entry" in errors["secret_reference"][0]
    azure_account(auth_method=AuthMethod.AZURE_CLIENT_SECRET, secret_reference="kv-portal/azure-client").full_clean()


def test_the_only_field_of_a_cloud_account_that_holds_a_secret_value_is_encrypted() -> None:
    names = {field.name for field in CloudAccount._meta.get_fields()}
    secretive = {name for name in names if any(word in name for word in ("secret", "password", "key", "token"))}

    assert secretive == {"secret_reference", "client_secret"}
    assert isinstance(CloudAccount._meta.get_field("client_secret"), EncryptedTextField)


def test_the_same_account_cannot_be_registered_twice() -> None:
    CloudAccountFactory.create(external_id="123456789012")

    with pytest.raises(IntegrityError), transaction.atomic():
        CloudAccountFactory.create(external_id="123456789012")


# --- regions -----------------------------------------------------------------


def region(
    code: str,
    zone: str,
    provider: str = Provider.AWS,
    account: CloudAccount | None = None,
    dr_partner: Region | None = None,
) -> Region:
    """An unsaved region, in a new account of its provider unless one is given."""
    if account is None and provider == Provider.AWS:
        account = CloudAccountFactory.create()
    if account is None and provider == Provider.AZURE:
        account = CloudAccountFactory.create(
            provider=Provider.AZURE, external_id=AZURE_SUBSCRIPTION, auth_method=AuthMethod.AZURE_MANAGED_IDENTITY
        )
    return Region(
        provider=provider, code=code, display_name=code, residency_zone=zone, account=account, dr_partner=dr_partner
    )


def test_a_region_in_its_own_residency_zone_is_accepted() -> None:
    region("us-east-1", ResidencyZone.US).full_clean()
    region("australiaeast", ResidencyZone.AU, provider=Provider.AZURE).full_clean()


def test_a_residency_zone_that_does_not_match_the_region_code_is_refused_naming_the_right_zone() -> None:
    errors = errors_of(region("us-east-1", ResidencyZone.EU))

    assert errors["residency_zone"] == ["us-east-1 lies in the United States (US) zone, not EU."]


def test_an_azure_region_in_the_wrong_zone_is_refused() -> None:
    errors = errors_of(region("westeurope", ResidencyZone.AU, provider=Provider.AZURE))

    assert "European Union (EU)" in errors["residency_zone"][0]


@pytest.mark.parametrize(("provider", "code"), [(Provider.AWS, "eu-west-9"), (Provider.AZURE, "eu-west-1")])
def test_an_unknown_region_code_is_refused(provider: str, code: str) -> None:
    errors = errors_of(region(code, ResidencyZone.EU, provider=provider))

    assert errors["code"] == [f"The portal knows no {Provider(provider).label} region called {code!r}."]


def test_a_cloud_region_needs_its_account() -> None:
    errors = errors_of(Region(provider=Provider.AWS, code="eu-west-1", display_name="x", residency_zone="EU"))

    assert errors["account"] == ["A cloud region needs the cloud account it runs in."]


def test_a_region_cannot_run_in_another_providers_account() -> None:
    errors = errors_of(
        region("westeurope", ResidencyZone.EU, provider=Provider.AZURE, account=CloudAccountFactory.create())
    )

    assert errors["account"] == ["The account belongs to another provider."]


def test_an_on_prem_site_needs_no_catalogue_code_and_no_account() -> None:
    Region(provider=Provider.ON_PREM, code="sydney-centre", display_name="Sydney", residency_zone="AU").full_clean()


def test_a_dr_partner_in_the_same_zone_is_accepted() -> None:
    partner = RegionFactory.create(code="eu-central-1", residency_zone=ResidencyZone.EU)

    region("eu-west-1", ResidencyZone.EU, dr_partner=partner).full_clean()


def test_a_dr_partner_in_another_zone_is_refused() -> None:
    partner = RegionFactory.create(code="us-west-2", residency_zone=ResidencyZone.US)

    errors = errors_of(region("eu-west-1", ResidencyZone.EU, dr_partner=partner))

    assert errors["dr_partner"] == ["The DR partner must be in the same residency zone, so data never leaves it."]


def test_a_region_cannot_be_its_own_dr_partner() -> None:
    ireland = RegionFactory.create(code="eu-west-1", residency_zone=ResidencyZone.EU)
    ireland.dr_partner = ireland

    errors = errors_of(ireland)

    assert errors["dr_partner"] == ["A region cannot be its own DR partner."]


def test_a_region_code_is_unique_per_provider() -> None:
    RegionFactory.create(code="eu-west-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        Region.objects.create(
            provider=Provider.AWS,
            code="eu-west-1",
            display_name="again",
            residency_zone="EU",
            status=RegionStatus.ACTIVE,
        )


# --- clusters ----------------------------------------------------------------


def test_an_aks_cluster_in_an_aws_region_is_refused() -> None:
    aws_region = RegionFactory.create(code="eu-west-1", residency_zone=ResidencyZone.EU)

    errors = errors_of(ClusterFactory.build(region=aws_region, kind=ClusterKind.AKS))

    assert errors["kind"] == ["AWS regions run Amazon EKS clusters, not Azure AKS."]


def test_an_eks_cluster_in_an_aws_region_is_accepted() -> None:
    aws_region = RegionFactory.create(code="eu-west-1", residency_zone=ResidencyZone.EU)

    ClusterFactory.build(region=aws_region, kind=ClusterKind.EKS).full_clean()


@pytest.mark.parametrize("provider", [Provider.AWS, Provider.AZURE, Provider.ON_PREM])
def test_a_k3s_cluster_is_allowed_in_a_region_of_any_provider(provider: str) -> None:
    home = region(
        {"aws": "eu-west-1", "azure": "westeurope", "on_prem": "dublin-centre"}[provider], "EU", provider=provider
    )
    home.save()

    ClusterFactory.build(region=home, kind=ClusterKind.K3S).full_clean()


@pytest.mark.parametrize("version", ["1.31", "1.30.4"])
def test_a_kubernetes_version_like_1_31_is_accepted(version: str) -> None:
    ClusterFactory.build(region=RegionFactory.create(code="eu-west-1"), kubernetes_version=version).full_clean()


@pytest.mark.parametrize("version", ["v1.31", "1", "latest", "2.0"])
def test_a_malformed_kubernetes_version_is_refused(version: str) -> None:
    errors = errors_of(ClusterFactory.build(region=RegionFactory.create(code="eu-west-1"), kubernetes_version=version))

    assert errors["kubernetes_version"] == ["Write a version such as 1.31."]


def test_a_cluster_name_must_be_a_dns_label() -> None:
    errors = errors_of(ClusterFactory.build(region=RegionFactory.create(code="eu-west-1"), name="Prod_Cluster"))

    assert "lower-case letters, digits and hyphens" in errors["name"][0]


def test_a_centre_server_runs_a_k3s_cluster() -> None:
    server = CentreServerFactory.create()
    server.cluster = ClusterFactory.create(region=server.region, kind=ClusterKind.EKS)

    errors = errors_of(server)

    assert errors["cluster"] == ["A centre server runs a k3s cluster."]


# --- node pools --------------------------------------------------------------

BOUNDS_MESSAGE = "Node counts must satisfy minimum ≤ desired ≤ maximum."
OUT_OF_BOUNDS = [
    pytest.param(3, 2, 5, id="desired-below-minimum"),
    pytest.param(1, 6, 5, id="desired-above-maximum"),
    pytest.param(4, 4, 3, id="minimum-above-maximum"),
]


@pytest.mark.parametrize(("minimum", "desired", "maximum"), OUT_OF_BOUNDS)
def test_the_database_refuses_a_node_pool_outside_its_bounds(minimum: int, desired: int, maximum: int) -> None:
    cluster = ClusterFactory.create()

    with pytest.raises(IntegrityError, match="node_pool_size_within_bounds"), transaction.atomic():
        NodePool.objects.create(
            cluster=cluster,
            name="general",
            instance_type="m7i.xlarge",
            min_nodes=minimum,
            desired_nodes=desired,
            max_nodes=maximum,
        )


@pytest.mark.parametrize(("minimum", "desired", "maximum"), OUT_OF_BOUNDS)
def test_full_clean_explains_a_node_pool_outside_its_bounds(minimum: int, desired: int, maximum: int) -> None:
    pool = NodePoolFactory.build(
        cluster=ClusterFactory.create(), min_nodes=minimum, desired_nodes=desired, max_nodes=maximum
    )

    errors = errors_of(pool)

    assert BOUNDS_MESSAGE in errors["__all__"]


@pytest.mark.parametrize(("minimum", "desired", "maximum"), [(0, 0, 4), (3, 3, 3), (1, 2, 5)])
def test_a_node_pool_within_its_bounds_is_accepted(minimum: int, desired: int, maximum: int) -> None:
    NodePoolFactory.build(
        cluster=ClusterFactory.create(), min_nodes=minimum, desired_nodes=desired, max_nodes=maximum
    ).full_clean()
