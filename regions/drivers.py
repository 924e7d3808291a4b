"""The portal's one door to provider drivers: a region or cluster of the inventory in, a working driver out.

Celery tasks (and anything else that must act on a cloud or a cluster) call
:func:`cloud_driver_for` or :func:`cluster_driver_for` with an inventory
object. The configuration comes from :mod:`regions.provider_config` (sandbox
or live, decrypted credentials), the driver from :mod:`providers.factory`,
with the sandbox's state under ``DATA_DIR/sandbox`` (shared by the web server
and every worker on the machine, or on a shared volume) and the latency of
``PORTAL_SANDBOX_LATENCY_SECONDS``.

Drivers may hold open connections and cached credentials: build one per task
run, not one per call.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from providers.cloud import CloudDriver
from providers.cluster import ClusterDriver
from providers.errors import InvalidRequest
from providers.factory import cloud_driver, cluster_driver
from regions.models import CloudAccount, Cluster, Region
from regions.provider_config import account_config, cluster_config, region_config


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


def cluster_driver_for(cluster: Cluster) -> ClusterDriver:
    """The driver of ``cluster``, reached the way its ``access`` says (decrypts its kubeconfig).

    For a cluster reached with a cloud token this asks the cloud for the
    cluster's endpoint once. Raises :class:`~providers.errors.InvalidRequest`
    for a configuration no driver serves.
    """
    return cluster_driver(cluster_config(cluster), sandbox_dir=sandbox_dir())
