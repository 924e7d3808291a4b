"""Plain-value configuration for provider drivers, from the inventory models.

Drivers (``providers/``) take the frozen dataclasses of :mod:`providers.config`
(re-exported here) and know nothing of Django; this module is the one place
that turns a :class:`~regions.models.CloudAccount`,
:class:`~regions.models.Region` or :class:`~regions.models.Cluster` into them.
It imports no cloud SDK. Whether a driver talks to the real cloud or to the
simulated sandbox is decided here too: every account in ``sandbox`` mode
(``PORTAL_PROVIDER_MODE``, the default of ``make run``), and sandbox accounts
in any mode.
"""

from __future__ import annotations

from django.conf import settings

from providers.config import AccountConfig, ClusterConfig
from regions.choices import ClusterAccess
from regions.models import CloudAccount, Cluster, Region

__all__ = ["AccountConfig", "ClusterConfig", "account_config", "cluster_config", "region_config", "sandbox_mode"]


def sandbox_mode() -> bool:
    """Whether the portal runs every driver against the sandbox (``PORTAL_PROVIDER_MODE=sandbox``)."""
    return str(getattr(settings, "PROVIDER_MODE", "live")) == "sandbox"


def account_config(account: CloudAccount, region_code: str = "") -> AccountConfig:
    """The driver configuration of ``account``, used in ``region_code`` (decrypts the client secret)."""
    return AccountConfig(
        provider=account.provider,
        account_id=account.external_id,
        region_code=region_code,
        auth_method=account.auth_method,
        sandbox=sandbox_mode() or account.is_sandbox,
        role_arn=account.role_arn,
        role_external_id=account.role_external_id,
        tenant_id=account.tenant_id,
        client_id=account.client_id,
        secret_reference=account.secret_reference,
        client_secret=account.client_secret,
        portal_account_id=account.pk,
        installation_id=str(settings.INSTALLATION_ID),
    )


def region_config(region: Region) -> AccountConfig | None:
    """The driver configuration of the account ``region`` runs in, or None if it has none (on-prem)."""
    if region.account is None:
        return None
    return account_config(region.account, region.code)


def cluster_config(cluster: Cluster) -> ClusterConfig:
    """The driver configuration of ``cluster``: how to reach it (decrypts its kubeconfig) and its region's account."""
    account = region_config(cluster.region)
    by_simulated_cloud = cluster.effective_access == ClusterAccess.CLOUD_TOKEN and bool(account and account.sandbox)
    return ClusterConfig(
        name=cluster.name,
        kind=cluster.kind,
        api_endpoint=cluster.api_endpoint,
        kubernetes_version=cluster.kubernetes_version,
        region_code=cluster.region.code,
        # A cluster reached through a simulated cloud is simulated too; one reached by kubeconfig or
        # in-cluster is real unless the whole portal runs on the sandbox (on-prem accounts are all "sandbox").
        sandbox=sandbox_mode() or by_simulated_cloud,
        account=account,
        portal_cluster_id=cluster.pk,
        provider=cluster.region.provider,
        access=cluster.effective_access,
        kubeconfig=cluster.kubeconfig,
        private_networks=tuple(settings.CLUSTER_PRIVATE_NETWORKS),
    )
