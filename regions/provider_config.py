"""Plain-value configuration for provider drivers, from the inventory models.

Drivers (``providers/``) take frozen dataclasses and know nothing of Django;
this module is the one place that turns a :class:`~regions.models.CloudAccount`,
:class:`~regions.models.Region` or :class:`~regions.models.Cluster` into them.
It imports no cloud SDK. Whether a driver talks to the real cloud or to the
simulated sandbox is decided here too: every account in ``sandbox`` mode
(``PORTAL_PROVIDER_MODE``, the default of ``make run``), and sandbox accounts
in any mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from regions.models import CloudAccount, Cluster, Region


@dataclass(frozen=True)
class AccountConfig:
    """How a driver reaches one AWS account, Azure subscription or on-prem site, in one region.

    ``client_secret`` is the decrypted Azure client secret, or ``""``; it is
    left out of ``repr()`` so a logged config never shows it.
    """

    provider: str
    account_id: str
    region_code: str
    auth_method: str
    sandbox: bool
    role_arn: str = ""
    role_external_id: str = ""
    tenant_id: str = ""
    client_id: str = ""
    secret_reference: str = ""
    client_secret: str = field(default="", repr=False)
    portal_account_id: int | None = None


@dataclass(frozen=True)
class ClusterConfig:
    """How a driver reaches one Kubernetes cluster, and the account it runs in (none for on-prem k3s)."""

    name: str
    kind: str
    api_endpoint: str
    kubernetes_version: str
    region_code: str
    sandbox: bool
    account: AccountConfig | None
    portal_cluster_id: int | None = None


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
    )


def region_config(region: Region) -> AccountConfig | None:
    """The driver configuration of the account ``region`` runs in, or None if it has none (on-prem)."""
    if region.account is None:
        return None
    return account_config(region.account, region.code)


def cluster_config(cluster: Cluster) -> ClusterConfig:
    """The driver configuration of ``cluster``: its endpoint and, for EKS/AKS, its account."""
    account = region_config(cluster.region)
    return ClusterConfig(
        name=cluster.name,
        kind=cluster.kind,
        api_endpoint=cluster.api_endpoint,
        kubernetes_version=cluster.kubernetes_version,
        region_code=cluster.region.code,
        sandbox=sandbox_mode() or (account.sandbox if account is not None else False),
        account=account,
        portal_cluster_id=cluster.pk,
    )
