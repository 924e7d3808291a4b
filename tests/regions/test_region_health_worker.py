""" "Check now" on a region page is answered by a real Celery worker asking the sandbox cloud, and the page,
polling, shows the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import Client
from django.urls import reverse

from access.models import User
from portal.demo import Persona, load_demo, username_of
from regions.choices import Rating
from regions.demo import load_demo_region_resources
from regions.models import Region, RegionHealth
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until


def test_check_now_is_answered_by_a_worker_and_the_polling_page_shows_it(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path, client: Client
) -> None:
    load_demo()
    settings.DATA_DIR = tmp_path  # the worker's sandbox is the same directory
    load_demo_region_resources()
    region = Region.objects.get(provider="aws", code="us-east-1")
    RegionHealth.objects.filter(region=region).delete()  # as if never checked
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})
    client.force_login(User.objects.get(username=username_of(Persona.PLATFORM_ADMIN)))

    answer = client.post(reverse("regions:check", args=["aws", "us-east-1"]))
    assert answer.status_code == 302
    partial = reverse("regions:health", args=["aws", "us-east-1"]) + "?" + answer["Location"].split("?", 1)[1]
    assert "Not checked yet: the check is running" in client.get(partial).content.decode()

    wait_until(lambda: RegionHealth.objects.filter(region=region, checked_at__isnull=False).exists(), 60)

    assert RegionHealth.objects.get(region=region).rating == Rating.RED
    page = client.get(partial).content.decode()
    assert "has no replica in us-west-2" in page
    assert "Checking…" not in page
