"""One call from a configuration to a working driver: the sandbox, AWS, Azure or a Kubernetes cluster.

:func:`cloud_driver` and :func:`cluster_driver` take the plain
:mod:`providers.config` dataclasses (the portal builds them from its inventory
in :mod:`regions.provider_config`; :mod:`regions.drivers` is the portal's one
door to this module) and return a :class:`~providers.cloud.CloudDriver` or a
:class:`~providers.cluster.ClusterDriver`. A configuration the factory cannot
serve raises :class:`~providers.errors.InvalidRequest` saying why.

Sandbox state lives under ``sandbox_dir``, laid out so two objects never
share a document, whatever their names::

    sandbox_dir/clouds/<provider>-<account id>/<account id>-<region>.json
    sandbox_dir/clusters/<provider>/<region>/<cluster name>.json

(one directory per account, because a sandbox cloud writes its DR-region
replicas into the other region's document beside its own; one directory per
region for clusters, whose names are unique only within a region). Every
process that builds a driver for the same account, region or cluster, the
web server and each Celery worker alike, reads and writes the same document.

The SDK-backed drivers are imported only when one is built, so a portal that
runs on the sandbox never loads boto3 or the Kubernetes client.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from providers.cloud import AwsCredentials, CloudDriver
from providers.cluster import ClusterDriver
from providers.config import CLUSTER_ACCESS, AccountConfig, ClusterConfig
from providers.errors import Conflict, InvalidRequest
from providers.kubeconfig import cluster_server_policy, parse_kubeconfig

if TYPE_CHECKING:
    from providers.kubernetes.driver import KubernetesClusterDriver

AWS_AUTH_METHODS = {"aws_assume_role"}
AZURE_AUTH_METHODS = {"azure_workload_identity", "azure_managed_identity", "azure_client_secret"}
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def cloud_driver(config: AccountConfig, *, sandbox_dir: Path, sandbox_latency_seconds: float = 0.0) -> CloudDriver:
    """The cloud driver for one account in one region.

    Sandbox configurations get a :class:`~providers.sandbox.cloud.SandboxCloudDriver`
    whose new resources stay ``creating`` for ``sandbox_latency_seconds``; AWS
    accounts an :class:`~providers.aws.cloud.AwsCloudDriver` that assumes the
    account's role (with the ambient credentials of the worker: its pod's
    identity, instance profile or environment); Azure subscriptions the Azure
    driver of :mod:`providers.azure.cloud`.
    """
    if not config.region_code:
        raise InvalidRequest(f"The {config.provider or 'cloud'} account {config.account_id!r} needs a region.")
    if config.sandbox:
        from providers.sandbox.cloud import SandboxCloudDriver

        account = _path_component(config.account_id or "sandbox")
        return SandboxCloudDriver(
            sandbox_dir / "clouds" / _path_component(f"{config.provider or 'cloud'}-{config.account_id}"),
            account=account,
            region=_path_component(config.region_code),
            latency_seconds=sandbox_latency_seconds,
        )
    if config.provider == "aws":
        return _aws_driver(config)
    if config.provider == "azure":
        return _azure_driver(config)
    if config.provider == "on_prem":
        raise InvalidRequest("An on-prem site has no cloud API; only its clusters can be reached (by kubeconfig).")
    raise InvalidRequest(f"No cloud driver for the provider {config.provider!r}.")


def cluster_driver(config: ClusterConfig, *, sandbox_dir: Path) -> ClusterDriver:
    """The cluster driver for one Kubernetes cluster.

    Sandbox configurations get a :class:`~providers.sandbox.cluster.SandboxClusterDriver`
    (whatever their access, which is still checked). Otherwise, by
    ``config.access``: ``"kubeconfig"`` builds the Kubernetes driver from the
    stored kubeconfig, whose server is checked again now and on every
    connection (:mod:`providers.outbound`: https, a public address or one in
    ``config.private_networks``, never a metadata address), ``"in_cluster"`` from the portal pod's service account,
    and ``"cloud_token"`` asks the account's cloud driver for the endpoint and CA
    (``describe_kubernetes_cluster``, one call now) and for bearer tokens
    (``kubernetes_token``, again whenever the last one is about to expire):
    the same path for EKS and AKS.
    """
    if config.access not in CLUSTER_ACCESS:
        raise InvalidRequest(
            f"Unknown access {config.access!r} for the cluster {config.name!r}; use one of {', '.join(CLUSTER_ACCESS)}."
        )
    if config.sandbox:
        from providers.sandbox.cluster import SandboxClusterDriver

        directory = sandbox_dir / "clusters" / _path_component(config.provider or "any")
        return SandboxClusterDriver(
            directory / _path_component(config.region_code or "any"), _path_component(config.name)
        )
    from providers.kubernetes.driver import KubernetesClusterDriver

    if config.access == "kubeconfig":
        if not config.kubeconfig:
            raise InvalidRequest(f"The cluster {config.name!r} is reached by kubeconfig, but none is stored.")
        policy = cluster_server_policy(config.private_networks)
        return KubernetesClusterDriver.from_kubeconfig(
            parse_kubeconfig(config.kubeconfig, server_policy=policy), outbound_policy=policy
        )
    if config.access == "in_cluster":
        return _in_cluster_driver(config.name)
    if config.account is None:
        raise InvalidRequest(f"The cluster {config.name!r} is reached with a cloud token, but it has no cloud account.")
    cloud = cloud_driver(config.account, sandbox_dir=sandbox_dir)
    return token_cluster_driver(cloud, config.name)


def token_cluster_driver(cloud: CloudDriver, cluster_name: str, **options: Any) -> KubernetesClusterDriver:
    """A Kubernetes driver for a managed cluster, reached with bearer tokens its cloud issues.

    The endpoint and CA come from ``cloud.describe_kubernetes_cluster``; the
    token from ``cloud.kubernetes_token``, fetched again a minute before the
    expiry the cloud gives (EKS tokens last 15 minutes, Entra ID tokens about
    an hour). ``options`` go to the driver (retry policy, sleep, timeout).
    Raises :class:`~providers.errors.Conflict` while the cluster has no endpoint yet.
    """
    from providers.kubernetes.driver import BearerToken, KubernetesClusterDriver

    info = cloud.describe_kubernetes_cluster(cluster_name)
    if not info.endpoint:
        raise Conflict(
            f"The cluster {cluster_name!r} has no API endpoint yet (status {info.status!r}).", resource=cluster_name
        )

    def token() -> BearerToken:
        value, expires_at = cloud.kubernetes_token(cluster_name)
        return BearerToken(value, expires_at)

    return KubernetesClusterDriver.from_token(
        info.endpoint, token, ca_data=info.certificate_authority_data or None, **options
    )


def _aws_driver(config: AccountConfig) -> CloudDriver:
    if config.auth_method not in AWS_AUTH_METHODS:
        raise InvalidRequest(f"The AWS account {config.account_id!r} cannot be reached with {config.auth_method!r}.")
    if not config.role_arn:
        raise InvalidRequest(f"The AWS account {config.account_id!r} has no role to assume.")
    from providers.aws.cloud import AwsCloudDriver

    return AwsCloudDriver(
        AwsCredentials(role_arn=config.role_arn, external_id=config.role_external_id, region=config.region_code)
    )


def _azure_driver(config: AccountConfig) -> CloudDriver:
    if config.auth_method not in AZURE_AUTH_METHODS:
        raise InvalidRequest(
            f"The Azure subscription {config.account_id!r} cannot be reached with {config.auth_method!r}."
        )
    if config.auth_method == "azure_client_secret" and not config.client_secret:
        # Reading it from the secret store named by secret_reference is not built yet.
        raise InvalidRequest(
            f"The Azure subscription {config.account_id!r} uses a client secret, but none is stored in the portal."
        )
    from providers.azure.cloud import build_azure_driver  # loads the Azure SDK only for Azure accounts

    return build_azure_driver(
        auth_method=config.auth_method,
        tenant_id=config.tenant_id,
        client_id=config.client_id,
        client_secret=config.client_secret,
        subscription_id=config.account_id,
        location=config.region_code,
        installation_id=config.installation_id,
    )


def _in_cluster_driver(name: str) -> ClusterDriver:
    from kubernetes.config import ConfigException

    from providers.kubernetes.driver import KubernetesClusterDriver

    try:
        return KubernetesClusterDriver.in_cluster()
    except ConfigException as error:
        raise InvalidRequest(
            f"The cluster {name!r} is reached in-cluster, but the portal does not run in a Kubernetes pod ({error})."
        ) from None


def _path_component(text: str) -> str:
    """``text`` as one safe file-name component: as it is when it is plain, else a slug with a hash of it.

    The hash keeps two different names that slug alike (``a/b`` and ``a_b``) apart.
    """
    if _SAFE_COMPONENT.match(text) and text not in {".", ".."}:
        return text
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:60] or "x"
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
