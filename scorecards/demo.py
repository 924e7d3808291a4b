"""The demo's scorecard: "Production readiness", its rules at bronze, silver and gold.

Loaded with the rest of the demo (:func:`portal.demo.load_demo`); safe to run again: the scorecard is keyed
on its name and its rules are added only while it has none, so rules an admin changed are kept.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from scorecards.choices import CheckKind, Level
from scorecards.models import Scorecard, ScorecardRule

NAME = "Production readiness"
DESCRIPTION = "What a service in production needs: someone to call, a way to fix it, safe and frequent releases."

RULES: list[dict[str, Any]] = [
    {"kind": CheckKind.OWNER, "level": Level.BRONZE, "description": "Someone answers for it."},
    {"kind": CheckKind.RUNBOOK, "level": Level.BRONZE, "description": "Whoever is paged knows what to do."},
    {
        "kind": CheckKind.NO_CRITICAL_FINDINGS,
        "level": Level.BRONZE,
        "description": "Nothing critical ships unnoticed.",
    },
    {"kind": CheckKind.ONCALL, "level": Level.SILVER, "description": "Someone is on call for it, now."},
    {
        "kind": CheckKind.DEPLOYED_WITHIN,
        "level": Level.SILVER,
        "days": 14,
        "description": "Small, frequent releases are safer than rare big ones.",
    },
    {
        "kind": CheckKind.CHANGE_FAILURE_RATE,
        "level": Level.SILVER,
        "percent": Decimal(20),
        "description": "Most changes reach production without harm.",
    },
    {
        "kind": CheckKind.SUPPORTED_KUBERNETES,
        "level": Level.GOLD,
        "extended_support": True,
        "description": "Its clusters still get security fixes.",
    },
    {"kind": CheckKind.WITHIN_BUDGET, "level": Level.GOLD, "description": "Its team spends what it planned."},
]


def load_demo_scorecards() -> Scorecard:
    """The demo's scorecard and its rules (written straight with the ORM, as demo data is; nothing is audited)."""
    scorecard, _ = Scorecard.objects.get_or_create(name=NAME, defaults={"description": DESCRIPTION})
    if not scorecard.rules.exists():
        ScorecardRule.objects.bulk_create(ScorecardRule(scorecard=scorecard, **rule) for rule in RULES)
    return scorecard
