"""What a template may say: every rule with the message the admin sees next to the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from access.models import Tier
from environments.choices import Approval
from environments.models import EnvironmentTemplate
from regions.choices import Provider, ResidencyZone
from regions.models import Region
from tests.environments.factories import saved_template, template

pytestmark = pytest.mark.django_db


def errors_of(**fields: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as invalid:
        template(**fields).full_clean()
    return invalid.value.message_dict


def test_a_valid_template_passes() -> None:
    template().full_clean()


def test_a_cpu_quantity_with_a_memory_unit_is_refused() -> None:
    errors = errors_of(quota_requests_cpu="2Gi")

    assert errors["quota_requests_cpu"] == [
        "'2Gi' is not a CPU quantity: write cores such as 2 or 0.5, or millicores such as 500m."
    ]


def test_a_memory_quantity_that_kubernetes_would_not_accept_is_refused() -> None:
    errors = errors_of(quota_limits_memory="8 gigs")

    assert errors["quota_limits_memory"] == ["'8 gigs' is not a memory quantity: write it as 512Mi, 4Gi or 1G."]


def test_memory_without_a_unit_is_caught_as_bytes() -> None:
    errors = errors_of(quota_requests_memory="4")

    assert errors["quota_requests_memory"] == ["'4' is less than 1Mi; did you forget the unit (Mi or Gi)?"]


def test_requests_cannot_exceed_limits() -> None:
    errors = errors_of(quota_requests_cpu="8", quota_limits_cpu="4")

    assert errors["quota_requests_cpu"] == ["CPU requests cannot exceed CPU limits."]


def test_a_container_cannot_be_allowed_more_than_the_namespace() -> None:
    errors = errors_of(limit_max_memory="16Gi", quota_limits_memory="8Gi")

    assert errors["limit_max_memory"] == ["One container cannot need more than the namespace's quota."]


def test_millicores_compare_with_cores() -> None:
    errors = errors_of(limit_default_request_cpu="600m", limit_default_cpu="0.5")

    assert errors["limit_default_request_cpu"] == ["The default request cannot exceed the default limit."]


def test_a_cidr_that_is_not_one_is_named() -> None:
    errors = errors_of(ingress_allow_cidrs=["10.0.0.0/8", "office"])

    assert errors["ingress_allow_cidrs"] == ["office is not a CIDR block such as 10.0.0.0/8 or 2001:db8::/32."]


def test_a_cidr_with_host_bits_gets_a_suggestion() -> None:
    errors = errors_of(ingress_deny_cidrs=["192.168.1.7/24"])

    assert errors["ingress_deny_cidrs"] == ["192.168.1.7/24 has host bits set; did you mean 192.168.1.0/24?"]


def test_ipv6_ranges_are_accepted() -> None:
    template(ingress_allow_cidrs=["2001:db8::/32"], ingress_deny_cidrs=["2001:db8:1::/48"]).full_clean()


def test_a_range_cannot_be_both_allowed_and_denied() -> None:
    errors = errors_of(ingress_allow_cidrs=["10.0.0.0/8"], ingress_deny_cidrs=["10.0.0.0/8"])

    assert errors["ingress_deny_cidrs"] == ["Both allowed and denied: 10.0.0.0/8."]


def test_the_host_pattern_must_name_the_environment() -> None:
    errors = errors_of(ingress_host_pattern="{team}.dev.example.com")

    assert errors["ingress_host_pattern"] == [
        "The host pattern must contain {env}, so that each environment gets its own host name."
    ]


def test_the_host_pattern_knows_only_env_and_team() -> None:
    errors = errors_of(ingress_host_pattern="{env}.{region}.example.com")

    assert errors["ingress_host_pattern"] == ["Unknown placeholders: {region}. Use {env} and {team}."]


def test_the_host_pattern_must_give_a_dns_name() -> None:
    errors = errors_of(ingress_host_pattern="{env}_{team}.Example.com")

    assert errors["ingress_host_pattern"][0].startswith("The host pattern must give a DNS name in lower case")


def test_the_default_lifetime_cannot_exceed_the_maximum() -> None:
    errors = errors_of(default_ttl_hours=100, max_ttl_hours=72)

    assert errors["default_ttl_hours"] == ["The default lifetime (100 h) cannot exceed the maximum (72 h)."]


def test_a_non_production_template_needs_a_lifetime() -> None:
    errors = errors_of(default_ttl_hours=None, max_ttl_hours=None)

    assert errors["default_ttl_hours"] == ["Give a default lifetime; only production environments never expire."]
    assert errors["max_ttl_hours"] == ["Give a maximum lifetime; only production environments never expire."]


def test_production_never_expires() -> None:
    errors = errors_of(tier=Tier.PRODUCTION, approval=Approval.PLATFORM_ADMIN)

    assert errors["max_ttl_hours"] == ["Production environments never expire: leave both lifetimes empty."]


def test_production_always_needs_approval_and_tls() -> None:
    errors = errors_of(
        tier=Tier.PRODUCTION, default_ttl_hours=None, max_ttl_hours=None, approval=Approval.NONE, ingress_tls=False
    )

    assert errors["approval"] == ["Production environments always need approval: a team lead's or a platform admin's."]
    assert errors["ingress_tls"] == ["Production environments are served over TLS only."]


def test_on_prem_cannot_have_managed_add_ons() -> None:
    errors = errors_of(allowed_providers=[Provider.AWS, Provider.ON_PREM], redis_size="small")

    assert errors["allowed_providers"] == [
        "On-prem centre servers have no managed PostgreSQL, Redis or buckets: remove on-prem or the add-ons."
    ]


def test_sizes_must_grow() -> None:
    errors = errors_of(size_small=Decimal(2), size_medium=Decimal(1), size_large=Decimal(4))

    assert errors["size_medium"] == ["Sizes must grow: small ≤ medium ≤ large."]


def test_a_template_needs_a_namespace_and_a_provider() -> None:
    errors = errors_of(namespaces=[], allowed_providers=[])

    assert "namespaces" in errors
    assert "allowed_providers" in errors


def test_an_unknown_namespace_is_refused() -> None:
    errors = errors_of(namespaces=["core-services", "payments"])

    assert errors["namespaces"] == ["Item 2 in the array did not validate: Value 'payments' is not a valid choice."]


def test_new_is_not_a_slug_because_it_is_the_create_page() -> None:
    assert errors_of(slug="new")["slug"] == ["'new' is reserved; choose another slug."]


def test_the_database_refuses_production_with_a_lifetime_whatever_skips_validation() -> None:
    with pytest.raises(IntegrityError):
        template(tier=Tier.PRODUCTION, approval=Approval.PLATFORM_ADMIN).save()


def test_the_database_refuses_a_default_lifetime_without_a_maximum() -> None:
    with pytest.raises(IntegrityError):
        template(max_ttl_hours=None).save()


def test_allowed_regions_must_belong_to_allowed_providers_and_zones() -> None:
    made = template(allowed_providers=[Provider.AWS], allowed_zones=[ResidencyZone.EU])
    azure = Region(provider=Provider.AZURE, code="westeurope", residency_zone=ResidencyZone.EU)
    sydney = Region(provider=Provider.AWS, code="ap-southeast-2", residency_zone=ResidencyZone.AU)

    assert made.region_errors([azure, sydney]) == [
        "westeurope is a Azure region, not an allowed provider's.",
        "ap-southeast-2 lies in the AU zone, which is not allowed.",
    ]


# --- derived values ----------------------------------------------------------------------


def test_a_size_multiplies_the_quota_into_kubernetes_quantities() -> None:
    made = template(
        quota_requests_cpu="1500m",
        quota_requests_memory="3Gi",
        quota_gpus=1,
        quota_storage="10Gi",
        size_medium=Decimal("1.5"),
    )

    assert made.quota_for("M") == {
        "requests.cpu": "2250m",
        "limits.cpu": "6",
        "requests.memory": "4608Mi",
        "limits.memory": "12Gi",
        "pods": "30",
        "requests.nvidia.com/gpu": "2",
        "requests.storage": "15Gi",
    }


def test_over_budget_needs_at_least_a_team_lead_but_never_lowers_the_templates_approval() -> None:
    assert template(approval=Approval.NONE).approval_for(over_budget=False) == Approval.NONE
    assert template(approval=Approval.NONE).approval_for(over_budget=True) == Approval.TEAM_LEAD
    assert template(approval=Approval.PLATFORM_ADMIN).approval_for(over_budget=True) == Approval.PLATFORM_ADMIN


def test_templates_list_only_active_ones_when_asked() -> None:
    saved_template(slug="on", name="On")
    saved_template(slug="off", name="Off", active=False)

    assert list(EnvironmentTemplate.objects.active().values_list("slug", flat=True)) == ["on"]


# --- team limits ---------------------------------------------------------------------------
