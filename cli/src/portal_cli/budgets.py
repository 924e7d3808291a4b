"""``portal costs budgets|anomalies``: budgets with their spend and forecast this period, and anomalies in spend.

The commands join the ``costs`` group in :mod:`portal_cli.main`.
"""

from __future__ import annotations

from typing import Any

import click

from portal_cli import output
from portal_cli.context import json_option, session

BUDGETS = "/api/budgets/"
ANOMALIES = "/api/cost-anomalies/"


@click.command()
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="At most this many.")
@json_option
def budgets(limit: int) -> None:
    """Budgets you may see, each with its spend and forecast in its current period."""
    state = session()
    with state.client() as client:
        found = client.get_all(BUDGETS, limit=limit)
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("No budget you may see.")
        return
    output.table(
        ["id", "budget", "for", "period", "amount", "spent", "forecast", "alerts"],
        (
            [
                budget.get("id"),
                budget.get("name"),
                _owner(budget),
                f"{budget.get('period')} from {(budget.get('current') or {}).get('period_start')}",
                output.money(budget.get("amount"), budget.get("currency")),
                _part(budget, "actual", "percent_actual"),
                _part(budget, "forecast", "percent_forecast"),
                (budget.get("current") or {}).get("alerts", 0),
            ]
            for budget in found
        ),
    )


def _owner(budget: dict[str, Any]) -> str:
    if budget.get("service"):
        return f"{budget.get('team')} / service {budget['service']}"
    if budget.get("environment"):
        return f"{budget.get('team')} / environment {budget['environment']}"
    return str(budget.get("team") or "")


def _part(budget: dict[str, Any], amount: str, percent: str) -> str:
    current = budget.get("current") or {}
    return f"{output.money(current.get(amount), budget.get('currency'))} ({current.get(percent)} %)"


@click.command()
@click.option("--limit", type=click.IntRange(1, 5000), default=20, show_default=True, help="At most this many.")
@json_option
def anomalies(limit: int) -> None:
    """Days whose spend stood out from the weeks before (a team's, or a service's), newest first."""
    state = session()
    with state.client() as client:
        found = client.get_all(ANOMALIES, limit=limit)
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("No anomaly you may see.")
        return
    output.table(
        ["id", "day", "team", "service", "spend", "usual", "why"],
        (
            [
                item.get("id"),
                item.get("day"),
                item.get("team"),
                item.get("service"),
                output.money(item.get("spend"), item.get("currency")),
                output.money(item.get("baseline_mean"), item.get("currency")),
                item.get("reason"),
            ]
            for item in found
        ),
    )


COMMANDS = [budgets, anomalies]
