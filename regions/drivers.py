"""The portal's one door to provider drivers: a region or cluster of the inventory in, a working driver out.

Celery tasks (and anything else that must act on a cloud or a cluster) call
:func:`cloud_driver_for` or :func:`cluster_driver_for` with an inventory
object. The configuration comes from :mod:`regions.provider_config` (sandbox
or live, decrypted credentials), the driver from :mod:`providers.factory`,
with the sandbox's state under ``DATA_DIR/sandbox`` (shared by the web server
and every worker on the machine, or on a shared volume) and the latency of
``PORTAL_SANDBOX_LATENCY_SECONDS``.

Drivers may hold open connections and cached credentials: build one per task
run, not one per call. A page that reads a cluster while a person waits (the
Kubernetes panel of a workload, a rollback's revisions) asks for an
``interactive`` driver: fewer tries and shorter timeouts than a worker's, so a
cluster that does not answer is said so in seconds.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from providers.cloud import CloudDriver
from providers.cluster import ClusterDriver
from providers.cluster_base import ManifestClusterDriver
from providers.errors import InvalidRequest
from providers.factory import cloud_driver, cluster_driver
from providers.retry import RetryPolicy
from regions.models import CloudAccount, Cluster, Region
from regions.provider_config import account_config, cluster_config, region_config

# While a person waits: two tries a second or so apart, each request given at most ten seconds.
INTERACTIVE_RETRY = RetryPolicy(attempts=2, base_seconds=0.5, cap_seconds=1.0)
INTERACTIVE_TIMEOUT_SECONDS = 10.0


def sandbox_dir() -> Path:
    """Where the simulated clouds and clusters keep their state."""
    return Path(settings.DATA_DIR) / "sandbox"


def cloud_driver_for(region: Region) -> CloudDriver:
    """The cloud driver of ``region``'s account, working in that region.

    Raises :class:`~providers.errors.InvalidRequest` for a region without a
    cloud account (an on-prem site) or a configuration no driver serves.
    """
    config = region_config(region)
    if config is None:
        raise InvalidRequest(f"The region {region.code} has no cloud account to drive.", resource=region.code)
    return cloud_driver(
        config, sandbox_dir=sandbox_dir(), sandbox_latency_seconds=float(settings.SANDBOX_LATENCY_SECONDS)
    )


def cloud_driver_in(account: CloudAccount, region_code: str) -> CloudDriver:
    """The cloud driver of ``account`` working in ``region_code``, a region the inventory may not hold yet.

    The region build-out uses it before the region is registered (and for
    its DR partner, which may not be registered at all).
    """
    return cloud_driver(
        account_config(account, region_code),
        sandbox_dir=sandbox_dir(),
        sandbox_latency_seconds=float(settings.SANDBOX_LATENCY_SECONDS),
    )


def cluster_driver_for(cluster: Cluster, *, interactive: bool = False) -> ClusterDriver:
    """The driver of ``cluster``, reached the way its ``access`` says (decrypts its kubeconfig).

    For a cluster reached with a cloud token this asks the cloud for the
    cluster's endpoint once. Raises :class:`~providers.errors.InvalidRequest`
    for a configuration no driver serves. ``interactive``: for a person
    waiting on a page (:data:`INTERACTIVE_RETRY`, :data:`INTERACTIVE_TIMEOUT_SECONDS`).
    """
    driver = cluster_driver(cluster_config(cluster), sandbox_dir=sandbox_dir())
    if interactive and isinstance(driver, ManifestClusterDriver):
        driver.retry_policy = INTERACTIVE_RETRY
        if hasattr(driver, "timeout_seconds"):
            driver.timeout_seconds = INTERACTIVE_TIMEOUT_SECONDS
    return driver
