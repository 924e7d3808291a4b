"""The failover workflow through the real cloud drivers: AWS over HTTP to a moto server (``PromoteReadReplica``),
Azure through azure-core's transport to the in-memory Azure of the driver tests.

The region is built by the ``regions.build`` workflow first, on the same drivers, so the replica promoted is the
one the build-out made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from providers import errors
from regions import workflows
from regions.choices import FailoverStatus, RegionStatus, ResourceStatus
from regions.models import FailoverRequest, Region, RegionResource
from tests.providers.conftest_cloud import moto_endpoint
from tests.regions.test_region_build import approve, build
from tests.regions.test_region_clouds import aws, azure, azure_request, kube
from tests.regions.test_region_failover import (
    DATABASE,
    PARTNER,
    PRIMARY,
    REPLICA,
    approve_failover,
    ask,
    built_region,
    carry_out,
)
from workflows.models import RunStatus, StepStatus

__all__ = ["aws", "azure", "kube", "moto_endpoint"]  # the fixtures, imported so pytest finds them

pytestmark = pytest.mark.django_db


def test_a_failover_on_aws_promotes_the_read_replica_with_backups_in_the_partner(aws: dict[str, Any]) -> None:
    region = built_region()
    assert aws["driver"](PRIMARY).describe_database(DATABASE).replica is not None
    failover = ask(region)

    run = carry_out(approve_failover(failover))

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert FailoverRequest.objects.get(pk=failover.pk).status == FailoverStatus.DONE
    promoted = aws["driver"](PARTNER).describe_database(REPLICA)
    assert (promoted.status, promoted.replica, promoted.backup_retention_days) == ("available", None, 14)
    assert promoted.id.startswith("arn:aws:rds:eu-west-3:")
    assert aws["driver"](PRIMARY).describe_database(DATABASE).replica is None, "the primary has no replica now"
    assert RegionResource.objects.get(region=region, kind="database_replica").status == ResourceStatus.PROMOTED
    partner = Region.objects.get(code=PARTNER)
    assert RegionResource.objects.get(region=partner, kind="database").provider_id == promoted.id
    assert (partner.status, Region.objects.get(pk=region.pk).status) == (RegionStatus.ACTIVE, RegionStatus.DEGRADED)


def test_an_aws_promotion_performed_again_promotes_nothing_more(aws: dict[str, Any]) -> None:
    failover = approve_failover(ask(built_region()))
    run = carry_out(failover)
    assert run.status == RunStatus.SUCCEEDED, run.error
    first = aws["driver"](PARTNER).describe_database(REPLICA)

    # The promote step again, as after a worker killed once the cloud had promoted but before the step was saved.
    promote = run.steps.get(action="promote")
    promote.status = StepStatus.PENDING
    promote.save(update_fields=["status"])
    run.steps.filter(position__gt=promote.position).update(status=StepStatus.PENDING)
    type(run).objects.filter(pk=run.pk).update(status=RunStatus.PENDING, finished_at=None)
    again = carry_out(failover)

    assert again.status == RunStatus.SUCCEEDED, again.error
    assert aws["driver"](PARTNER).describe_database(REPLICA).id == first.id
    assert RegionResource.objects.filter(kind="database", region__code=PARTNER).count() == 1


def test_a_failover_on_azure_promotes_the_replica_through_the_transport(azure: dict[str, Any], kube: Path) -> None:
    run = build(approve(azure_request()))
    assert run.status == RunStatus.SUCCEEDED, run.error
    region = Region.objects.get(provider="azure", code="francecentral")
    failover = ask(region)
    assert (failover.partner.code, failover.database) == ("germanywestcentral", "portal-francecentral-tests-db")

    done = carry_out(approve_failover(failover))

    assert done.status == RunStatus.SUCCEEDED, done.error
    # The replica lives in the partner region's resource group: the partner's driver describes it.
    cloud = azure["driver"]("francecentral")
    promoted = azure["driver"]("germanywestcentral").describe_database("portal-francecentral-tests-db-replica")
    assert (promoted.status.lower(), promoted.replica, promoted.backup_retention_days) == ("available", None, 14)
    assert cloud.describe_database("portal-francecentral-tests-db").replica is None
    assert azure["fake"].promotions == [{"server": "portal-francecentral-tests-db-replica", "option": "planned"}]
    partner = Region.objects.get(provider="azure", code="germanywestcentral")
    assert (partner.status, Region.objects.get(pk=region.pk).status) == (RegionStatus.ACTIVE, RegionStatus.DEGRADED)


class RegionDown:
    """The primary region's driver during a regional outage: describing its database gets no answer."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    def describe_database(self, name: str) -> Any:
        raise errors.Unavailable(f"{PRIMARY} is not answering (regional outage)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)


def test_on_aws_a_failover_goes_ahead_when_the_primary_region_does_not_answer(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    region = built_region()
    healthy = workflows.cloud_driver

    def in_an_outage(account: Any, code: str) -> Any:
        driver = healthy(account, code)
        return RegionDown(driver) if code == PRIMARY else driver

    monkeypatch.setattr(workflows, "cloud_driver", in_an_outage)

    failover = ask(region)  # the partner's word that the replica is there is enough to ask

    assert failover.replica_lag_seconds is None
    run = carry_out(approve_failover(failover))
    assert run.status == RunStatus.SUCCEEDED, run.error
    check = run.steps.get(action="check")
    assert check.output["primary_unreachable"] == f"{PRIMARY} is not answering (regional outage)"
    promoted = aws["driver"](PARTNER).describe_database(REPLICA)
    assert (promoted.status, promoted.replica) == ("available", None)
    assert Region.objects.get(pk=region.pk).status == RegionStatus.DEGRADED


def test_when_neither_region_finds_the_replica_the_failover_is_refused_in_words(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    region = built_region()
    aws["driver"](PRIMARY).delete_database_replica(DATABASE, PARTNER)
    healthy = workflows.cloud_driver

    def in_an_outage(account: Any, code: str) -> Any:
        driver = healthy(account, code)
        return RegionDown(driver) if code == PRIMARY else driver

    monkeypatch.setattr(workflows, "cloud_driver", in_an_outage)

    with pytest.raises(ValidationError) as refused:
        ask(region)

    assert refused.value.messages == [
        f"{PRIMARY} did not answer about {DATABASE} ({PRIMARY} is not answering (regional outage)), and {PARTNER} "
        f"finds no replica {REPLICA}."
    ]


def test_on_azure_a_failover_in_a_regional_outage_promotes_the_replica_forced(
    azure: dict[str, Any], kube: Path
) -> None:
    run = build(approve(azure_request()))
    assert run.status == RunStatus.SUCCEEDED, run.error
    region = Region.objects.get(provider="azure", code="francecentral")
    failover = approve_failover(ask(region))
    azure["fake"].down_locations.add("francecentral")  # the primary's region stops answering

    done = carry_out(failover)

    assert done.status == RunStatus.SUCCEEDED, done.error
    assert "primary_unreachable" in done.steps.get(action="check").output
    # A planned promotion waits for the primary, which is down: only a forced one can finish.
    assert azure["fake"].promotions == [{"server": "portal-francecentral-tests-db-replica", "option": "forced"}]
    promoted = azure["driver"]("germanywestcentral").describe_database("portal-francecentral-tests-db-replica")
    assert (promoted.status, promoted.replica) == ("available", None)
    assert Region.objects.get(pk=region.pk).status == RegionStatus.DEGRADED
