"""The plain configuration a driver is built from: one cloud account in one region, or one cluster.

These are frozen dataclasses with no Django in them, so :mod:`providers.factory`
can turn them into drivers without knowing the portal's models. The portal
builds them from its inventory in :mod:`regions.provider_config`; tests and
scripts can write them by hand. Secrets they carry (an Azure client secret, a
kubeconfig) are decrypted text, left out of ``repr()`` so a logged config
never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ClusterAccess = Literal["kubeconfig", "in_cluster", "cloud_token"]
CLUSTER_ACCESS: tuple[ClusterAccess, ...] = ("kubeconfig", "in_cluster", "cloud_token")


@dataclass(frozen=True)
class AccountConfig:
    """How a driver reaches one AWS account, Azure subscription or on-prem site, in one region.

    ``provider`` is ``"aws"``, ``"azure"`` or ``"on_prem"``; ``account_id`` the
    AWS account id or Azure subscription id; ``auth_method`` one of the
    inventory's methods (``"aws_assume_role"``, ``"azure_client_secret"``…).
    ``sandbox`` sends every call to the simulated cloud instead.
    ``client_secret`` is the decrypted Azure client secret, or ``""``.
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
    # This installation's short id (PORTAL_INSTALLATION_ID): part of names unique across a whole cloud.
    installation_id: str = ""


@dataclass(frozen=True)
class ClusterConfig:
    """How a driver reaches one Kubernetes cluster, and the account it runs in (none for some on-prem k3s).

    ``access`` says how the driver authenticates: ``"kubeconfig"`` (the
    decrypted ``kubeconfig`` text: on-prem k3s, or any cluster an admin gave
    one for), ``"in_cluster"`` (the service account of the pod the portal runs
    in) or ``"cloud_token"`` (EKS/AKS: the account's cloud driver finds the
    endpoint and CA and issues short-lived bearer tokens). ``provider`` is the
    provider of the cluster's region, which with ``region_code`` and ``name``
    identifies the cluster uniquely. ``private_networks`` (CIDR ranges) are
    where a kubeconfig's server may be although it is not public (on-prem
    k3s); see :mod:`providers.outbound`.
    """

    name: str
    kind: str
    api_endpoint: str
    kubernetes_version: str
    region_code: str
    sandbox: bool
    account: AccountConfig | None
    portal_cluster_id: int | None = None
    provider: str = ""
    access: str = "cloud_token"
    kubeconfig: str = field(default="", repr=False)
    private_networks: tuple[str, ...] = ()
