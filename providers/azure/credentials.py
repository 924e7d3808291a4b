"""Which azure-identity credential a cloud account's configured auth method stands for.

The client secret is handed to azure-identity and nowhere else: it is
neither logged nor kept on the driver.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import (
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

CLIENT_SECRET = "azure_client_secret"  # noqa: S105 (the name of a method, not a secret)
WORKLOAD_IDENTITY = "azure_workload_identity"
MANAGED_IDENTITY = "azure_managed_identity"


def credential_for(
    auth_method: str, tenant_id: str, client_id: str, client_secret: str, **options: Any
) -> TokenCredential:
    """The credential for ``auth_method``; anything unknown (or empty) means :class:`DefaultAzureCredential`.

    - ``azure_client_secret``: an app registration's secret (stored encrypted by the portal);
    - ``azure_workload_identity``: a federated token projected into the pod (AKS workload identity);
      the token file comes from ``AZURE_FEDERATED_TOKEN_FILE`` as the webhook sets it;
    - ``azure_managed_identity``: the VM's or pod's managed identity, the user-assigned one when
      ``client_id`` is given.

    ``options`` go to the credential as they are (azure-identity's ``transport``, say).
    """
    if auth_method == CLIENT_SECRET:
        return ClientSecretCredential(tenant_id, client_id, client_secret, **options)
    if auth_method == WORKLOAD_IDENTITY:
        return WorkloadIdentityCredential(tenant_id=tenant_id or None, client_id=client_id or None, **options)
    if auth_method == MANAGED_IDENTITY:
        if client_id:
            return ManagedIdentityCredential(client_id=client_id, **options)
        return ManagedIdentityCredential(**options)
    return DefaultAzureCredential(**options)
