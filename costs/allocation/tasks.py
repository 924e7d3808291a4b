"""Scheduled Kubernetes allocation: thin callers of :mod:`costs.allocation.services`.

Beat runs :func:`sample_clusters` every ``PORTAL_COST_ALLOCATION_SAMPLE_SECONDS``
(an hour by default). It fixes the slot once and enqueues one
:func:`sample_cluster` per cluster with that slot, so a task delivered twice,
or retried after a lost worker, samples the same slot again and replaces it
instead of counting the hour twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.utils import timezone

from costs.allocation import services as allocation
from costs.choices import SourceKind
from costs.models import CostSource
from costs.prices import PriceMissing
from providers.errors import ProviderError
from regions.drivers import cluster_driver_for
from regions.models import Cluster

logger = logging.getLogger(__name__)


@shared_task(name="costs.allocation.sample_clusters")
def sample_clusters() -> list[int]:
    """Enqueue a sample of every cluster whose allocation is on, all for the current slot; the cluster ids."""
    slot = allocation.slot_of(timezone.now())
    ids = list(allocation.clusters_to_sample().values_list("pk", flat=True))
    for cluster_id in ids:
        sample_cluster.delay(cluster_id, slot.isoformat())
    return ids


@shared_task(name="costs.allocation.sample_cluster")
def sample_cluster(cluster_id: int, slot: str) -> int:
    """Sample one cluster for ``slot`` (ISO datetime) and re-allocate its day; how many namespaces it saw.

    A cluster that cannot be read or priced is noted on its cost source
    (``last_error``, shown with the source) and tried again next slot.
    """
    cluster = Cluster.objects.select_related("region").filter(pk=cluster_id).first()
    if cluster is None:
        return 0
    try:
        sampled = allocation.sample_and_allocate(
            cluster=cluster, slot=datetime.fromisoformat(slot), driver=cluster_driver_for(cluster)
        )
    except (ProviderError, PriceMissing, ValueError) as error:
        logger.warning("allocation of cluster %s failed: %s", cluster, error)
        CostSource.objects.filter(kind=SourceKind.KUBERNETES, cluster=cluster).update(last_error=str(error))
        return 0
    CostSource.objects.filter(kind=SourceKind.KUBERNETES, cluster=cluster).update(
        last_error="", last_import_at=timezone.now()
    )
    return sampled.namespaces
