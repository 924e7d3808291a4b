"""Whether an environment request may go ahead: allowed, held for approval, or refused, and always why.

Pure rules over plain facts (:class:`RequestFacts`), so the request form's
live check, the API and the final submit all decide the same way, and every
rule is tested on its own. Refusals are what no approval can fix (EU data
outside the EU, a region the template does not allow, a team at its
environment limit); approvals are what a person may accept (production, over
budget, a TTL past the template's usual one).

Residency refusals say which zone the data must stay in, where the chosen
region lies and which regions to choose instead (``zone_regions``: the
active regions of each zone). A region that is not active (planned, still
being built, retired) is refused with why; a degraded one is allowed with a
warning (:attr:`Decision.warnings`): a degraded region still runs, often with
one resource amber, and refusing every request there during an incident would
stop teams for what may be a passing fault; the requester sees the warning
before submitting and may choose the DR partner the warning names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum

from portal import numbers


class Outcome(StrEnum):
    ALLOWED = "allowed"
    NEEDS_APPROVAL = "needs_approval"
    REFUSED = "refused"


class Approver(StrEnum):
    """Who must approve: the team's lead (``environments.approve`` on the team) or a platform admin."""

    TEAM_LEAD = "team_lead"
    PLATFORM_ADMIN = "platform_admin"


@dataclass(frozen=True)
class RequestFacts:
    """What the decision needs, gathered from the request, its template, region and team."""

    tier: str
    region_code: str
    region_zone: str
    provider: str
    team_zone: str | None = None
    allowed_zones: frozenset[str] = frozenset()
    allowed_regions: frozenset[str] = frozenset()
    allowed_providers: frozenset[str] = frozenset()
    template_approval: Approver | None = None
    ttl: timedelta | None = None
    default_ttl: timedelta | None = None
    max_ttl: timedelta | None = None
    monthly_estimate: Decimal = Decimal(0)
    currency: str = "EUR"
    team_monthly_committed: Decimal = Decimal(0)
    team_monthly_limit: Decimal | None = None
    # The team's budget of Costs -> Budgets for the current period, what was spent of it so far, and its period.
    team_budget: Decimal | None = None
    team_budget_spent: Decimal = Decimal(0)
    team_budget_period: str = "monthly"
    team_environments: int = 0
    team_max_environments: int | None = None
    region_status: str = "active"
    region_dr_partner: str = ""
    # (zone, region code) of every active region: what to suggest instead of a refused one.
    zone_regions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Decision:
    """The outcome, the reasons for it (shown to the requester and the approver) and who must approve."""

    outcome: Outcome
    reasons: tuple[str, ...] = ()
    approver: Approver | None = None
    budget_left: Decimal | None = None
    warnings: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome == Outcome.ALLOWED


def _money(amount: Decimal, currency: str) -> str:
    return f"{currency} {numbers.money(amount)}"


def _days(duration: timedelta) -> str:
    hours = duration.total_seconds() / 3600
    return f"{hours:g} hours" if hours < 48 else f"{hours / 24:g} days"


def _instead(facts: RequestFacts, zones: set[str] | frozenset[str], *, exclude: str = "") -> str:
    """ "Choose a region in EU: eu-west-1 or westeurope." (or no suggestion when none is active)."""
    codes = sorted({code for zone, code in facts.zone_regions if zone in zones and code != exclude})
    where = " or ".join(sorted(zones))
    if not codes:
        return f"No region in {where} is active yet; ask a platform admin for one."
    listed = codes[0] if len(codes) == 1 else f"{', '.join(codes[:-1])} or {codes[-1]}"
    return f"Choose a region in {where}: {listed}."


# Why nothing new is placed in a region that is not active, and what to do.
_NOT_ACTIVE = {
    "planned": "{code} is planned but not built yet",
    "provisioning": "{code} is still being built; nothing is placed there until it is active",
    "retired": "{code} is retired: nothing new is placed there",
}


def region_unavailable(code: str, status: str) -> str | None:
    """Why nothing can be provisioned in a region of ``status`` now (planned, being built, retired), or None."""
    why = _NOT_ACTIVE.get(status)
    return f"{why.format(code=code)}." if why is not None else None


def decide(facts: RequestFacts) -> Decision:
    """Apply every rule; refusals win over approvals, and the stricter approver wins."""
    refusals: list[str] = []
    holds: list[tuple[str, Approver]] = []
    warnings: list[str] = []

    # --- what no approval can fix ---------------------------------------------------------------
    if facts.team_zone and facts.region_zone != facts.team_zone:
        refusals.append(
            f"The team's data must stay in the {facts.team_zone} zone; {facts.region_code} is in {facts.region_zone}. "
            + _instead(facts, {facts.team_zone})
        )
    if facts.allowed_zones and facts.region_zone not in facts.allowed_zones:
        zones = ", ".join(sorted(facts.allowed_zones))
        if facts.team_zone and facts.team_zone not in facts.allowed_zones:
            instead = f"The team's data must stay in {facts.team_zone}, so choose another template."
        else:
            instead = _instead(facts, {facts.team_zone} if facts.team_zone else facts.allowed_zones)
        refusals.append(
            f"This template is for the {zones} zone(s); {facts.region_code} is in {facts.region_zone}. {instead}"
        )
    if facts.region_status in _NOT_ACTIVE:
        why = _NOT_ACTIVE[facts.region_status].format(code=facts.region_code)
        zone = {facts.team_zone} if facts.team_zone else {facts.region_zone}
        refusals.append(f"{why}. {_instead(facts, zone, exclude=facts.region_code)}")
    elif facts.region_status == "degraded":
        partner = f"; its DR partner {facts.region_dr_partner} is another choice" if facts.region_dr_partner else ""
        warnings.append(
            f"{facts.region_code} is degraded: provisioning may be slow or fail, and what runs there may be "
            f"affected{partner}."
        )
    if facts.allowed_regions and facts.region_code not in facts.allowed_regions:
        refusals.append(f"This template does not allow the region {facts.region_code}.")
    if facts.allowed_providers and facts.provider not in facts.allowed_providers:
        refusals.append(f"This template does not run on {facts.provider}.")
    if facts.team_max_environments is not None and facts.team_environments >= facts.team_max_environments:
        refusals.append(
            f"The team has {facts.team_environments} environments, its limit is {facts.team_max_environments}; "
            "tear one down first."
        )
    if facts.tier == "production" and facts.ttl is not None:
        refusals.append("Production environments never expire; leave the TTL empty.")
    elif facts.tier != "production" and facts.max_ttl is not None and facts.ttl is None:
        refusals.append(f"Give a TTL of at most {_days(facts.max_ttl)}.")
    elif facts.ttl is not None and facts.ttl <= timedelta(0):
        refusals.append("The TTL must be positive.")
    committed = facts.team_monthly_committed + facts.monthly_estimate
    if facts.team_monthly_limit is not None and committed > facts.team_monthly_limit:
        refusals.append(
            f"The team's environments would cost {_money(committed, facts.currency)} a month; its limit is "
            f"{_money(facts.team_monthly_limit, facts.currency)}."
        )

    # --- what a person may accept ---------------------------------------------------------------
    if facts.tier == "production":
        holds.append(("Production environments need a platform admin's approval.", Approver.PLATFORM_ADMIN))
    if facts.template_approval is not None:
        who = "a platform admin" if facts.template_approval == Approver.PLATFORM_ADMIN else "the team lead"
        holds.append((f"This template needs {who}'s approval.", facts.template_approval))
    if facts.max_ttl is not None and facts.ttl is not None and facts.ttl > facts.max_ttl:
        holds.append(
            (
                f"The TTL of {_days(facts.ttl)} is past the template's maximum of {_days(facts.max_ttl)}.",
                Approver.TEAM_LEAD,
            )
        )
    budget_left = None
    if facts.team_budget is not None:
        # What is left of the budget is what Costs -> Budgets shows: the budget less what was spent this period.
        budget_left = facts.team_budget - facts.team_budget_spent
        if facts.monthly_estimate > budget_left:
            over, left, needs = (
                _money(amount, facts.currency)
                for amount in (facts.monthly_estimate - budget_left, budget_left, facts.monthly_estimate)
            )
            holds.append(
                (
                    f"Over the team's {facts.team_budget_period} budget by {over} ({left} left, this needs {needs}).",
                    Approver.TEAM_LEAD,
                )
            )

    if refusals:
        return Decision(Outcome.REFUSED, tuple(refusals), budget_left=budget_left, warnings=tuple(warnings))
    if holds:
        approver = (
            Approver.PLATFORM_ADMIN if any(who == Approver.PLATFORM_ADMIN for _, who in holds) else Approver.TEAM_LEAD
        )
        return Decision(
            Outcome.NEEDS_APPROVAL, tuple(reason for reason, _ in holds), approver, budget_left, tuple(warnings)
        )
    return Decision(Outcome.ALLOWED, budget_left=budget_left, warnings=tuple(warnings))
