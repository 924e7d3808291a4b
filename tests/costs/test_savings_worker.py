"""The savings task runs in a real Celery worker process: it asks the sandbox cloud about buckets, writes rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from costs.choices import RecommendationKind
from costs.models import Recommendation
from costs.savings import services as savings
from costs.savings.tasks import compute_savings
from portal.demo import load_demo
from providers.cloud import BucketSpec
from regions.drivers import cloud_driver_for
from tests.costs.savings_data import demo_cluster, make_environment
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until


def test_the_worker_computes_recommendations_from_the_cloud_and_the_inventory(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the worker's sandbox is the same directory
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    environment = make_environment("staging-bucket", template="staging")
    cloud_driver_for(demo_cluster().region).ensure_bucket(BucketSpec(name=savings.bucket_name(environment)))

    compute_savings.delay()

    buckets = Recommendation.objects.filter(kind=RecommendationKind.BUCKET_LIFECYCLE, environment=environment)
    bucket = wait_until(buckets.first, timeout=60)
    assert bucket is not None
    assert bucket.monthly_saving == Decimal("0.92")
    database = Recommendation.objects.get(kind=RecommendationKind.DATABASE_SIZE, environment=environment)
    assert database.monthly_saving == Decimal("77.38")
