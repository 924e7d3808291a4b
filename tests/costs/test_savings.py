"""Savings recommendations: each kind's saving is computed right, and the kind is absent when it does not apply."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from access.models import AuditEvent, User
from costs.choices import Allocation, RecommendationAction, RecommendationKind, RecommendationStatus
from costs.forecast import month_bounds
from costs.models import AllocationSample, Recommendation
from costs.savings import services as savings
from costs.savings.services import NamespaceUsage
from environments import services as environment_services
from environments.choices import EnvironmentStatus
from environments.models import Environment
from environments.workflows import ProvisionEnvironment
from portal.demo import Persona
from providers.cloud import BucketSpec
from regions.choices import CapacityType
from regions.drivers import cloud_driver_for
from regions.models import NodePool
from tests.costs.savings_data import NOW, cost_every_day, demo_cluster, make_environment
from tests.factories import make_workload
from workflows.models import Run

pytestmark = [pytest.mark.usefixtures("demo"), pytest.mark.shared_demo]


def found(kind: RecommendationKind, *environments: Environment, **filters: Any) -> list[savings.Found]:
    """What one computation finds; for the environment kinds, about ``environments`` only (the demo has its own)."""
    computations = {
        RecommendationKind.ENVIRONMENT_TTL: savings.ttl_recommendations,
        RecommendationKind.SPOT: savings.spot_recommendations,
        RecommendationKind.OVER_REQUESTED: savings.over_requested_recommendations,
        RecommendationKind.BUCKET_LIFECYCLE: savings.bucket_recommendations,
        RecommendationKind.DATABASE_SIZE: savings.database_recommendations,
        RecommendationKind.TTL_REALISED: savings.realised_savings,
    }
    items = list(computations[kind](now=filters.pop("now", NOW), **filters))
    if environments:
        ids = {environment.pk for environment in environments}
        items = [item for item in items if item.environment_id in ids]
    return items


# --- a lifetime for non-production environments ---------------------------------------------------


def test_an_environment_that_never_expires_saves_its_daily_cost_for_the_days_a_ttl_would_end_it_sooner() -> None:
    environment = make_environment("forever")
    cost_every_day(7, "10.00", environment=environment, team=environment.team)

    (item,) = found(RecommendationKind.ENVIRONMENT_TTL, environment)

    # A week's lifetime (the default suggestion) ends it 730 h - 168 h = 23.4167 days sooner: x 10.00 a day.
    assert item.monthly_saving == Decimal("234.17")
    assert item.currency == "USD"
    assert (item.environment_id, item.team_id, item.tier) == (environment.pk, environment.team_id, "test")
    assert item.action == RecommendationAction.SET_TTL
    assert item.action_hours == 7 * 24
    assert "never expires" in " ".join(item.evidence)
    assert "looks idle" in " ".join(item.evidence)  # nothing runs in it


def test_the_evidence_says_whether_an_environment_runs_anything() -> None:
    idle = make_environment("idle")
    busy = make_environment("busy")
    make_workload(cluster=demo_cluster(), environment=idle, tier="test", name="stopped", replicas_ready=0)
    make_workload(cluster=demo_cluster(), environment=busy, tier="test", name="serving", replicas_ready=2)

    evidence = {
        item.environment_id: " ".join(item.evidence) for item in found(RecommendationKind.ENVIRONMENT_TTL, idle, busy)
    }

    assert "None of its 1 workload(s) has a ready replica" in evidence[idle.pk]
    assert "1 workload(s) run in it with 2 ready replica(s)" in evidence[busy.pk]


def test_the_daily_cost_is_the_mean_of_the_days_the_environment_existed() -> None:
    environment = make_environment("young", created_at=NOW - timedelta(days=2))
    cost_every_day(2, "12.00", environment=environment)

    (item,) = found(RecommendationKind.ENVIRONMENT_TTL, environment)

    # Two days at 12.00: 12.00 a day (not 24 / 7), for 23.4167 days.
    assert item.monthly_saving == Decimal("281.00")


def test_an_environment_with_no_cost_yet_is_estimated_from_its_request() -> None:
    # 365.00 a month is exactly 12.00 a day (730 hours); it expires in 20 days, a week's lifetime in 7: 13 days.
    environment = make_environment("estimated", monthly_estimate="365.00", expires_at=NOW + timedelta(days=20))

    (item,) = found(RecommendationKind.ENVIRONMENT_TTL, environment)

    assert item.monthly_saving == Decimal("156.00")
    assert "estimate" in item.evidence[2]


def test_the_suggested_lifetime_never_exceeds_the_templates_maximum() -> None:
    environment = make_environment("preview-forever", template="preview")  # previews live at most 72 hours

    (item,) = found(RecommendationKind.ENVIRONMENT_TTL, environment)

    assert item.action_hours == 72


def test_costs_in_two_currencies_are_two_recommendations_never_added() -> None:
    environment = make_environment("two-currencies")
    cost_every_day(7, "10.00", environment=environment)
    cost_every_day(7, "5.00", environment=environment, currency="EUR")

    items = {item.currency: item.monthly_saving for item in found(RecommendationKind.ENVIRONMENT_TTL, environment)}

    assert items == {"EUR": Decimal("117.08"), "USD": Decimal("234.17")}


def test_no_lifetime_is_suggested_for_production_short_lived_or_stopped_environments() -> None:
    production = make_environment("prod", template="production")
    soon = make_environment("soon", expires_at=NOW + timedelta(days=3))
    gone = make_environment("gone", status=EnvironmentStatus.TORN_DOWN)

    assert found(RecommendationKind.ENVIRONMENT_TTL, production, soon, gone) == []


# --- spot ---------------------------------------------------------------------------------------------


def test_non_production_workloads_on_on_demand_pools_save_their_share_times_the_spot_discount() -> None:
    cluster = demo_cluster()  # general: 3 on-demand nodes, high-cpu: 2 spot, gpu: 0 on-demand
    make_workload(cluster=cluster, namespace="preview-web", tier="development", name="web")
    cost_every_day(30, "10.00", cluster=cluster, namespace="preview-web", allocation=Allocation.NAMESPACE)

    (item,) = found(RecommendationKind.SPOT)

    # 10.00 a day is 304.17 a month; 3 of 5 nodes on-demand; spot 60 % cheaper: 304.1667 x 0.6 x 0.6.
    assert item.monthly_saving == Decimal("109.50")
    assert (item.cluster_id, item.namespace) == (cluster.pk, "preview-web")
    assert item.action == RecommendationAction.NONE


def test_the_spot_discount_is_a_setting(settings: Any) -> None:
    settings.COST_SAVINGS_SPOT_DISCOUNT = Decimal("0.5")
    cluster = demo_cluster()
    make_workload(cluster=cluster, namespace="preview-web", tier="test", name="web")
    cost_every_day(30, "10.00", cluster=cluster, namespace="preview-web", allocation=Allocation.NAMESPACE)

    (item,) = found(RecommendationKind.SPOT)

    assert item.monthly_saving == Decimal("91.25")


def test_a_namespace_running_production_workloads_is_not_moved_to_spot() -> None:
    cluster = demo_cluster()
    make_workload(cluster=cluster, namespace="shared", tier="development", name="web")
    make_workload(cluster=cluster, namespace="shared", tier="production", name="api")
    cost_every_day(30, "10.00", cluster=cluster, namespace="shared", allocation=Allocation.NAMESPACE)

    assert found(RecommendationKind.SPOT) == []


def test_no_spot_recommendation_without_cost_data_or_on_demand_nodes() -> None:
    cluster = demo_cluster()
    make_workload(cluster=cluster, namespace="preview-web", tier="development", name="web")
    assert found(RecommendationKind.SPOT) == []  # no cost recorded for the namespace

    cost_every_day(30, "10.00", cluster=cluster, namespace="preview-web", allocation=Allocation.NAMESPACE)
    NodePool.objects.filter(cluster=cluster).update(capacity_type=CapacityType.SPOT)
    assert found(RecommendationKind.SPOT) == []


# --- over-requested namespaces ------------------------------------------------------------------------


def usage(cpu: tuple[str, str], memory: tuple[str, str], namespace: str = "analytics") -> NamespaceUsage:
    return NamespaceUsage(
        demo_cluster().pk, namespace, Decimal(cpu[0]), Decimal(cpu[1]), Decimal(memory[0]), Decimal(memory[1])
    )


def test_a_namespace_using_a_fifth_of_its_requests_saves_four_fifths_of_its_cost() -> None:
    cluster = demo_cluster()
    cost_every_day(30, "10.00", cluster=cluster, namespace="analytics", allocation=Allocation.NAMESPACE)

    (item,) = found(RecommendationKind.OVER_REQUESTED, usage=[usage(("100", "20"), ("200", "30"))])

    # CPU 20 %, memory 15 %: it uses at most 20 % of its requests; 304.1667 x 0.8.
    assert item.monthly_saving == Decimal("243.33")
    assert item.namespace == "analytics"


def test_a_namespace_using_its_requests_or_without_cost_is_not_over_requested() -> None:
    cluster = demo_cluster()
    cost_every_day(30, "10.00", cluster=cluster, namespace="analytics", allocation=Allocation.NAMESPACE)

    # Memory at 60 % of its request: the namespace is not over-requested (threshold 50 %).
    assert found(RecommendationKind.OVER_REQUESTED, usage=[usage(("100", "10"), ("100", "60"))]) == []
    # Over-requested, but no cost recorded for it.
    assert found(RecommendationKind.OVER_REQUESTED, usage=[usage(("100", "10"), ("100", "10"), "idle-ns")]) == []


def test_the_allocation_samplers_requests_and_usage_are_what_over_requested_reads() -> None:
    cluster = demo_cluster()
    cost_every_day(30, "10.00", cluster=cluster, namespace="analytics", allocation=Allocation.NAMESPACE)
    gib = 1024**3
    for hour in range(1, 25):  # a day of hourly samples: 4 cores and 8 GiB asked for, 0.5 cores and 1 GiB used
        AllocationSample.objects.create(
            cluster=cluster,
            slot=NOW - timedelta(days=2, hours=hour),
            hours=Decimal(1),
            namespace="analytics",
            cpu_request=Decimal(4),
            cpu_usage=Decimal("0.5"),
            memory_request=8 * gib,
            memory_usage=gib,
        )
    AllocationSample.objects.create(  # an hour without metrics-server does not count as unused
        cluster=cluster,
        slot=NOW - timedelta(days=1),
        hours=Decimal(1),
        namespace="analytics",
        cpu_request=Decimal(400),
        memory_request=800 * gib,
    )

    (item,) = found(RecommendationKind.OVER_REQUESTED)

    # 12.5 % of CPU and memory used: 304.1667 a month x 0.875.
    assert item.monthly_saving == Decimal("266.15")


def test_without_usage_samples_there_is_no_over_requested_recommendation() -> None:
    cost_every_day(30, "10.00", cluster=demo_cluster(), namespace="analytics", allocation=Allocation.NAMESPACE)

    assert found(RecommendationKind.OVER_REQUESTED) == []


# --- buckets ---------------------------------------------------------------------------------------------


def test_a_bucket_without_a_lifecycle_rule_saves_a_share_of_its_storage_price(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    with_rule = make_environment("with-rule", template="staging")
    without = make_environment("without-rule", template="staging")
    cloud = cloud_driver_for(demo_cluster().region)
    cloud.ensure_bucket(BucketSpec(name=savings.bucket_name(without)))
    cloud.ensure_bucket(BucketSpec(name=savings.bucket_name(with_rule), cold_storage_after_days=30))
    never = make_environment("never-provisioned", template="staging")  # no bucket exists: nothing to say

    (item,) = found(RecommendationKind.BUCKET_LIFECYCLE, with_rule, without, never)

    # 100 GiB (staging) x 0.023 USD per GiB-month (S3 Standard) x 40 %.
    assert item.monthly_saving == Decimal("0.92")
    assert (item.environment_id, item.resource) == (without.pk, savings.bucket_name(without))


def provisioned(environment: Environment, params: dict[str, Any]) -> None:
    """A provisioning run of ``environment`` that ran the plan ``params``."""
    Run.objects.create(
        kind=ProvisionEnvironment.kind,
        key=f"provision-{environment.pk}",
        params=params,
        subject_type=ContentType.objects.get_for_model(environment),
        subject_id=str(environment.pk),
    )


def test_a_bucket_is_looked_for_under_the_name_its_provisioning_gave_it(settings: Any) -> None:
    settings.INSTALLATION_ID = "inst1"
    before = make_environment("made-before", template="staging")
    after = make_environment("made-after", template="staging")
    plan = {"environment_id": 0, "name": "", "team": "", "tier": "", "cluster_id": 0, "namespaces": []}
    # A plan made before names carried the installation's id has none; one made since keeps the id of its day.
    provisioned(before, {**plan, "environment_id": before.pk, "name": before.name})
    provisioned(after, {**plan, "environment_id": after.pk, "name": after.name, "installation": "inst0"})
    never = make_environment("never-provisioned", template="staging")

    assert savings.bucket_name(before) == f"portal-env-{before.pk}-made-before"
    assert savings.bucket_name(after) == f"portal-inst0-env-{after.pk}-made-after"
    assert savings.bucket_name(never) == f"portal-inst1-env-{never.pk}-never-provisioned"


# --- databases -------------------------------------------------------------------------------------------


def test_a_medium_database_in_staging_saves_the_price_difference_to_small() -> None:
    environment = make_environment("staging-db", template="staging")

    (item,) = found(RecommendationKind.DATABASE_SIZE, environment)

    # (0.178 - 0.072) USD an hour x 730 hours.
    assert item.monthly_saving == Decimal("77.38")
    assert item.environment_id == environment.pk


def test_production_and_small_databases_are_not_over_sized() -> None:
    production = make_environment("prod-db", template="production")
    small = make_environment("small-db", template="team-sandbox")

    assert found(RecommendationKind.DATABASE_SIZE, production, small) == []


# --- realised by TTL teardowns -----------------------------------------------------------------------------


def test_an_environment_torn_down_by_expiry_realises_its_daily_cost_for_the_rest_of_the_month(
    persona: Any,
) -> None:
    now = timezone.now()
    today = timezone.localdate(now)
    expired = make_environment("expired", expires_at=now - timedelta(minutes=1), created_at=now - timedelta(days=30))
    cost_every_day(7, "10.00", until=today, environment=expired)
    torn_down_by_hand = make_environment("by-hand", created_at=now - timedelta(days=30))
    cost_every_day(7, "99.00", until=today, environment=torn_down_by_hand)
    assert environment_services.environments_expire(now=now).expired == [expired.pk]
    environment_services.environment_teardown(actor=persona(Persona.DEVELOPER), environment_id=torn_down_by_hand.pk)

    (item,) = found(RecommendationKind.TTL_REALISED, expired, torn_down_by_hand, now=now)

    month_start, month_end = month_bounds(today)
    days = (min(month_end, today + timedelta(days=30)) - today).days
    assert item.monthly_saving == Decimal(10 * days).quantize(Decimal("0.01"))
    assert (item.environment_id, item.realised, item.period_start) == (expired.pk, True, month_start)


def test_nothing_is_realised_without_an_expiry() -> None:
    environment = make_environment("still-running", expires_at=NOW + timedelta(days=1))

    assert found(RecommendationKind.TTL_REALISED, environment) == []


# --- writing the rows ------------------------------------------------------------------------------------------


def test_a_refresh_keeps_a_dismissal_and_retires_what_no_longer_applies(persona: Any) -> None:
    environment = make_environment("forever")
    database = make_environment("staging-db", template="staging", expires_at=NOW + timedelta(days=2))
    cost_every_day(7, "10.00", environment=environment)

    savings.refresh_recommendations(now=NOW)
    ttl = Recommendation.objects.get(kind=RecommendationKind.ENVIRONMENT_TTL, environment=environment)
    savings.recommendation_dismiss(actor=persona(Persona.MANAGER), recommendation_id=ttl.pk)

    environment.expires_at = NOW + timedelta(days=2)  # no longer long-lived
    environment.save(update_fields=["expires_at"])
    second = savings.refresh_recommendations(now=NOW)

    assert second.retired == 1
    ttl.refresh_from_db()
    assert (ttl.current, ttl.status) == (False, RecommendationStatus.DISMISSED)
    assert Recommendation.objects.get(environment=database, kind=RecommendationKind.DATABASE_SIZE).current


def test_the_set_ttl_action_sets_the_expiry_through_the_environment_service_once(persona: Any) -> None:
    developer: User = persona(Persona.DEVELOPER)
    environment = make_environment("forever")
    savings.refresh_recommendations()
    recommendation = Recommendation.objects.get(kind=RecommendationKind.ENVIRONMENT_TTL, environment=environment)
    before = timezone.now()

    savings.recommendation_set_ttl(actor=developer, recommendation_id=recommendation.pk)
    savings.recommendation_set_ttl(actor=developer, recommendation_id=recommendation.pk)  # a double submit

    environment.refresh_from_db()
    assert environment.expires_at is not None
    assert before + timedelta(hours=168) <= environment.expires_at <= timezone.now() + timedelta(hours=168)
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.ACTED
    events = AuditEvent.objects.filter(verb="environments.expiry_set", object_id=str(environment.pk))
    assert [(event.actor, event.extra["hours"]) for event in events] == [(developer, 168)]


def test_a_manager_who_may_not_change_environments_cannot_set_a_ttl(persona: Any) -> None:
    from django.http import Http404

    environment = make_environment("forever")
    savings.refresh_recommendations()
    recommendation = Recommendation.objects.get(kind=RecommendationKind.ENVIRONMENT_TTL, environment=environment)

    with pytest.raises(Http404):
        savings.recommendation_set_ttl(actor=persona(Persona.MANAGER), recommendation_id=recommendation.pk)

    environment.refresh_from_db()
    assert environment.expires_at is None
    recommendation.refresh_from_db()
    assert recommendation.status == RecommendationStatus.OPEN


def test_the_environment_service_refuses_a_lifetime_for_production_or_beyond_the_templates_maximum(
    persona: Any,
) -> None:
    from django.core.exceptions import ValidationError

    developer = persona(Persona.DEVELOPER)
    production = make_environment("prod", template="production")
    preview = make_environment("preview", template="preview")

    with pytest.raises(ValidationError, match="never expire"):
        environment_services.environment_set_expiry(actor=developer, environment_id=production.pk, hours=24)
    with pytest.raises(ValidationError, match="at most 72 hours"):
        environment_services.environment_set_expiry(actor=developer, environment_id=preview.pk, hours=100)
    assert not AuditEvent.objects.filter(verb="environments.expiry_set").exists()
