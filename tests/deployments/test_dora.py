"""DORA metrics from a known history of production deployments: frequency, lead time, change failure rate
and time to restore, computed by hand below and compared."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from access.models import Tier
from deployments.choices import DeploymentSource, DeploymentStatus, SmokeTest
from deployments.dora import dora
from deployments.models import Deployment, Service
from tests.factories import make_service

pytestmark = pytest.mark.django_db

START = date(2026, 11, 2)  # a Monday
END = date(2026, 11, 9)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=timezone.get_current_timezone())


def deploy(service: Service, started: datetime, **fields: Any) -> Deployment:
    values: dict[str, Any] = {
        "service": service,
        "team": service.team,
        "tier": Tier.PRODUCTION,
        "namespace": "core-services",
        "version": started.isoformat(),
        "status": DeploymentStatus.SUCCEEDED,
        "source": DeploymentSource.PIPELINE,
        "started_at": started,
        "finished_at": started + timedelta(minutes=10),
    }
    values.update(fields)
    return Deployment.objects.create(**values)


@pytest.fixture
def service() -> Service:
    return make_service(slug="checkout")


def test_the_four_metrics_of_a_week(service: Service) -> None:
    # Mon: shipped, commit 2 h before it finished.
    deploy(service, at(2, 9), commit_at=at(2, 9) + timedelta(minutes=10) - timedelta(hours=2))
    # Tue: shipped, then found bad and rolled back; the rollback finished an hour after it (restore: 1 h).
    bad = deploy(
        service,
        at(3, 9),
        status=DeploymentStatus.ROLLED_BACK,
        commit_at=at(3, 9) + timedelta(minutes=10) - timedelta(hours=4),
    )
    deploy(service, at(3, 10), source=DeploymentSource.ROLLBACK)  # the rollback: restores, is not a deployment
    # Wed: failed outright; the fix went out Thu at 9 (restore: 24 h).
    deploy(service, at(4, 9), status=DeploymentStatus.FAILED)
    deploy(service, at(5, 9), commit_at=at(5, 9) + timedelta(minutes=10) - timedelta(hours=6))
    # Fri: shipped but its smoke test failed; fixed by the next Monday's deployment (restore: 3 days).
    deploy(service, at(6, 9), smoke_test=SmokeTest.FAILED)
    # Not counted: still in progress, staging, and (but for restoring Friday) outside the week.
    deploy(service, at(7, 9), status=DeploymentStatus.IN_PROGRESS)
    deploy(service, at(7, 9), tier=Tier.STAGING)
    deploy(service, at(9, 9))

    metrics = dora(Deployment.objects.all(), start=START, end=END)

    assert metrics.deployments == 4  # Mon, Tue (rolled back, but it went out), Thu, Fri
    assert metrics.deployments_per_day == pytest.approx(4 / 7)
    assert metrics.lead_time == timedelta(hours=4)  # median of 2 h, 4 h, 6 h
    assert metrics.failures == 3  # Tue rolled back, Wed failed, Fri smoke test
    assert metrics.change_failure_rate == pytest.approx(3 / 5)
    assert metrics.restored == 3
    assert metrics.time_to_restore == timedelta(hours=24)  # median of 1 h, 24 h, 3 days
    assert [(point.day.day, point.deployments, point.failures) for point in metrics.daily] == [
        (2, 1, 0),
        (3, 1, 1),
        (4, 0, 1),
        (5, 1, 0),
        (6, 1, 1),
        (7, 0, 0),
        (8, 0, 0),
    ]
    assert bad.rolled_back_by is None  # the history is as written (rollback links are the rollback's job)


def test_restores_are_counted_at_the_same_place_only(service: Service) -> None:
    other = make_service(slug="search", team=service.team)
    deploy(service, at(2, 9), status=DeploymentStatus.FAILED)
    deploy(other, at(2, 10))  # another service's success fixes nothing

    metrics = dora(Deployment.objects.all(), start=START, end=END)

    assert (metrics.restored, metrics.time_to_restore) == (0, None)


def test_a_period_without_production_deployments_has_no_rates(service: Service) -> None:
    deploy(service, at(3, 9), tier=Tier.STAGING)

    metrics = dora(Deployment.objects.all(), start=START, end=END)

    assert (metrics.deployments, metrics.change_failure_rate, metrics.lead_time, metrics.time_to_restore) == (
        0,
        None,
        None,
        None,
    )
    assert len(metrics.daily) == 7
