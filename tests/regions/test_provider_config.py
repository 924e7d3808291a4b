"""The plain configuration a provider driver takes, built from the inventory."""

from __future__ import annotations

import dataclasses

import pytest
from django.conf import settings
from django.test import override_settings

from regions.choices import AuthMethod, ClusterKind, Provider
from regions.models import CloudAccount, Cluster, Region
from regions.provider_config import AccountConfig, account_config, cluster_config, region_config
from tests.factories import (
    AzureClientSecretAccountFactory,
    CloudAccountFactory,
    ClusterFactory,
    OnPremRegionFactory,
    RegionFactory,
    kubeconfig_for,
)

pytestmark = pytest.mark.django_db
SECRET = "az-client-secret-value~0123456789"


def saved_account(factory: type[CloudAccountFactory] = CloudAccountFactory, **fields: object) -> CloudAccount:
    return CloudAccount.objects.get(pk=factory.create(**fields).pk)


@override_settings(PROVIDER_MODE="live")
def test_an_aws_account_becomes_its_account_id_role_and_external_id_in_a_region() -> None:
    account = saved_account(role_external_id="portal-ext-42")

    config = account_config(account, "eu-west-1")

    assert config == AccountConfig(
        provider=Provider.AWS,
        account_id=account.external_id,
        region_code="eu-west-1",
        auth_method=AuthMethod.AWS_ASSUME_ROLE,
        sandbox=False,
        role_arn=account.role_arn,
        role_external_id="portal-ext-42",
        portal_account_id=account.pk,
        installation_id=settings.INSTALLATION_ID,
    )


@override_settings(PROVIDER_MODE="live")
def test_an_azure_account_carries_its_decrypted_client_secret_but_never_shows_it() -> None:
    account = saved_account(AzureClientSecretAccountFactory)

    config = account_config(account, "westeurope")

    assert (config.tenant_id, config.client_id, config.client_secret) == (account.tenant_id, account.client_id, SECRET)
    assert SECRET not in repr(config)
    assert SECRET not in str(config)


def test_the_config_is_frozen_plain_data() -> None:
    config = account_config(saved_account())

    with pytest.raises(dataclasses.FrozenInstanceError):
        config.role_arn = "arn:aws:iam::000000000000:role/other"  # type: ignore[misc]
    assert all(isinstance(value, str | bool | int | type(None)) for value in dataclasses.asdict(config).values())


@override_settings(PROVIDER_MODE="live")
def test_a_sandbox_account_is_sandboxed_even_in_live_mode() -> None:
    assert account_config(saved_account(auth_method=AuthMethod.SANDBOX, role_arn="")).sandbox is True


@override_settings(PROVIDER_MODE="sandbox")
def test_sandbox_mode_sandboxes_every_account() -> None:
    assert account_config(saved_account()).sandbox is True


def test_a_region_gives_its_account_in_its_own_region_code() -> None:
    region = Region.objects.get(pk=RegionFactory.create().pk)

    config = region_config(region)

    assert config is not None
    assert (config.region_code, config.account_id) == (
        region.code,
        region.account.external_id if region.account else "",
    )


@override_settings(PROVIDER_MODE="live")
def test_a_cluster_gives_its_endpoint_and_the_account_of_its_region() -> None:
    cluster = Cluster.objects.select_related("region__account").get(pk=ClusterFactory.create().pk)

    config = cluster_config(cluster)

    assert (config.name, config.kind, config.api_endpoint) == (cluster.name, cluster.kind, cluster.api_endpoint)
    assert config.region_code == cluster.region.code
    assert config.account == region_config(cluster.region)
    assert config.sandbox is False
    assert config.kind == ClusterKind.EKS


@override_settings(PROVIDER_MODE="live", CLUSTER_PRIVATE_NETWORKS=["10.1.0.0/16"])
def test_a_cluster_says_how_it_is_reached_and_carries_its_decrypted_kubeconfig_without_showing_it() -> None:
    kubeconfig = kubeconfig_for("https://10.1.2.3:6443", token="site-token-never-shown")
    cluster = ClusterFactory.create(region=OnPremRegionFactory.create(), kind=ClusterKind.K3S, kubeconfig=kubeconfig)

    config = cluster_config(Cluster.objects.select_related("region__account").get(pk=cluster.pk))

    assert (config.provider, config.access, config.kubeconfig) == (Provider.ON_PREM, "kubeconfig", kubeconfig)
    assert config.private_networks == ("10.1.0.0/16",)  # where its server may be, for the driver's checks
    assert "site-token-never-shown" not in repr(config)
    assert config.sandbox is False


@override_settings(PROVIDER_MODE="live")
def test_a_k3s_cluster_on_a_site_whose_account_is_simulated_is_still_reached_for_real() -> None:
    # On-prem accounts can only use the sandbox auth method; that says nothing about the site's k3s.
    account = saved_account(provider=Provider.ON_PREM, auth_method=AuthMethod.SANDBOX, role_arn="")
    region = OnPremRegionFactory.create(account=account)
    cluster = ClusterFactory.create(region=region, kind=ClusterKind.K3S)

    assert cluster_config(Cluster.objects.get(pk=cluster.pk)).sandbox is False


@override_settings(PROVIDER_MODE="live")
def test_a_cluster_reached_through_a_simulated_cloud_is_simulated() -> None:
    account = saved_account(auth_method=AuthMethod.SANDBOX, role_arn="")
    cluster = ClusterFactory.create(region=RegionFactory.create(account=account))

    assert cluster_config(Cluster.objects.get(pk=cluster.pk)).sandbox is True


@override_settings(PROVIDER_MODE="sandbox")
def test_sandbox_mode_simulates_every_cluster_whatever_its_access() -> None:
    cluster = ClusterFactory.create(region=OnPremRegionFactory.create(), kind=ClusterKind.K3S)

    assert cluster_config(Cluster.objects.get(pk=cluster.pk)).sandbox is True
