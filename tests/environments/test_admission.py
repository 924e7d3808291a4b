"""The request policy: what is refused (and why), what needs whose approval (and why), what goes ahead."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from environments.admission import Approver, Outcome, RequestFacts, decide

PREVIEW = RequestFacts(
    tier="development",
    region_code="eu-west-1",
    region_zone="EU",
    provider="aws",
    team_zone="EU",
    allowed_zones=frozenset({"EU"}),
    ttl=timedelta(hours=24),
    default_ttl=timedelta(hours=24),
    max_ttl=timedelta(hours=72),
    monthly_estimate=Decimal("120.00"),
    team_monthly_committed=Decimal("300.00"),
    team_monthly_limit=Decimal("2000.00"),
    team_budget=Decimal("1000.00"),
    team_budget_spent=Decimal("300.00"),
    team_environments=3,
    team_max_environments=10,
    zone_regions=(("AU", "ap-southeast-2"), ("EU", "eu-central-1"), ("EU", "eu-west-1"), ("US", "us-east-1")),
)


def test_a_request_within_every_limit_goes_ahead_and_says_what_budget_is_left() -> None:
    decision = decide(PREVIEW)

    assert (decision.outcome, decision.reasons, decision.budget_left) == (Outcome.ALLOWED, (), Decimal("700.00"))


def test_eu_data_outside_the_eu_is_refused_and_no_approval_can_change_that() -> None:
    decision = decide(replace(PREVIEW, region_code="us-east-1", region_zone="US", allowed_zones=frozenset()))

    assert decision.outcome == Outcome.REFUSED
    assert decision.reasons == (
        "The team's data must stay in the EU zone; us-east-1 is in US. "
        "Choose a region in EU: eu-central-1 or eu-west-1.",
    )


def test_a_region_outside_the_templates_zones_regions_or_providers_is_refused_with_each_reason() -> None:
    decision = decide(
        replace(
            PREVIEW,
            team_zone=None,
            region_code="ap-southeast-2",
            region_zone="AU",
            provider="azure",
            allowed_regions=frozenset({"eu-west-1"}),
            allowed_providers=frozenset({"aws"}),
        )
    )

    assert decision.outcome == Outcome.REFUSED
    assert decision.reasons == (
        "This template is for the EU zone(s); ap-southeast-2 is in AU. "
        "Choose a region in EU: eu-central-1 or eu-west-1.",
        "This template does not allow the region ap-southeast-2.",
        "This template does not run on azure.",
    )


def test_a_team_at_its_environment_limit_is_refused() -> None:
    decision = decide(replace(PREVIEW, team_environments=10))

    assert decision.reasons == ("The team has 10 environments, its limit is 10; tear one down first.",)


def test_a_team_past_its_monthly_limit_is_refused_with_the_amounts() -> None:
    decision = decide(replace(PREVIEW, team_monthly_committed=Decimal("1950"), team_budget=None))

    assert decision.outcome == Outcome.REFUSED
    assert decision.reasons == ("The team's environments would cost EUR 2,070.00 a month; its limit is EUR 2,000.00.",)


def test_over_budget_needs_the_team_leads_approval_and_says_by_how_much() -> None:
    decision = decide(replace(PREVIEW, team_budget_spent=Decimal("950")))

    assert (decision.outcome, decision.approver) == (Outcome.NEEDS_APPROVAL, Approver.TEAM_LEAD)
    assert decision.reasons == ("Over the team's monthly budget by EUR 70.00 (EUR 50.00 left, this needs EUR 120.00).",)


def test_production_needs_a_platform_admin_and_never_expires() -> None:
    production = replace(PREVIEW, tier="production", ttl=None, max_ttl=None, default_ttl=None)

    decision = decide(production)
    with_ttl = decide(replace(production, ttl=timedelta(days=7)))

    assert (decision.outcome, decision.approver) == (Outcome.NEEDS_APPROVAL, Approver.PLATFORM_ADMIN)
    assert decision.reasons == ("Production environments need a platform admin's approval.",)
    assert with_ttl.reasons == ("Production environments never expire; leave the TTL empty.",)


def test_a_ttl_past_the_templates_maximum_needs_approval_and_the_stricter_approver_wins() -> None:
    decision = decide(replace(PREVIEW, ttl=timedelta(days=5), template_approval=Approver.PLATFORM_ADMIN))

    assert decision.outcome == Outcome.NEEDS_APPROVAL
    assert decision.approver == Approver.PLATFORM_ADMIN
    assert decision.reasons == (
        "This template needs a platform admin's approval.",
        "The TTL of 5 days is past the template's maximum of 3 days.",
    )


@pytest.mark.parametrize(
    ("ttl", "reason"), [(None, "Give a TTL of at most 3 days."), (timedelta(0), "The TTL must be positive.")]
)
def test_a_missing_or_empty_ttl_is_refused(ttl: timedelta | None, reason: str) -> None:
    assert decide(replace(PREVIEW, ttl=ttl)).reasons == (reason,)


def test_refusals_win_over_approvals() -> None:
    decision = decide(replace(PREVIEW, tier="production", ttl=None, region_zone="US", region_code="us-east-1"))

    assert decision.outcome == Outcome.REFUSED


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("planned", "eu-west-1 is planned but not built yet."),
        ("provisioning", "eu-west-1 is still being built; nothing is placed there until it is active."),
        ("retired", "eu-west-1 is retired: nothing new is placed there."),
    ],
)
def test_a_region_that_is_not_active_is_refused_saying_why_and_naming_the_zones_other_regions(
    status: str, why: str
) -> None:
    decision = decide(replace(PREVIEW, region_status=status))

    assert decision.outcome == Outcome.REFUSED
    assert decision.reasons == (f"{why} Choose a region in EU: eu-central-1.",)


def test_a_degraded_region_is_allowed_with_a_warning_that_names_its_dr_partner() -> None:
    decision = decide(replace(PREVIEW, region_status="degraded", region_dr_partner="eu-central-1"))

    assert (decision.outcome, decision.reasons) == (Outcome.ALLOWED, ())
    assert decision.warnings == (
        "eu-west-1 is degraded: provisioning may be slow or fail, and what runs there may be affected; "
        "its DR partner eu-central-1 is another choice.",
    )


def test_a_template_for_other_zones_than_the_teams_says_to_choose_another_template() -> None:
    decision = decide(replace(PREVIEW, region_code="ap-southeast-2", region_zone="AU", allowed_zones=frozenset({"US"})))

    assert decision.reasons == (
        "The team's data must stay in the EU zone; ap-southeast-2 is in AU. Choose a region in EU: eu-central-1 or "
        "eu-west-1.",
        "This template is for the US zone(s); ap-southeast-2 is in AU. The team's data must stay in EU, so choose "
        "another template.",
    )


def test_a_zone_with_no_active_region_says_to_ask_for_one() -> None:
    decision = decide(
        replace(PREVIEW, region_code="us-east-1", region_zone="US", allowed_zones=frozenset(), zone_regions=())
    )

    assert decision.reasons == (
        "The team's data must stay in the EU zone; us-east-1 is in US. No region in EU is active yet; ask a "
        "platform admin for one.",
    )
