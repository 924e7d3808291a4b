"""``portal deploy matrix`` (what runs where) and ``portal costs breakdown`` (cost by a dimension)."""

from __future__ import annotations

from typing import Any

import click

from portal_cli import output
from portal_cli.context import json_option, session

COST_DIMENSIONS = [
    "team", "environment", "service", "region", "provider", "account", "billing_account", "pricing_category",
    "service_name", "charge_category", "charge_class", "commitment_discount_status",
]  # fmt: skip


@click.group()
def deploy() -> None:
    """Deployments: what version runs where."""


@deploy.command()
@click.option("--team", help="Only this team's services (slug).")
@click.option("--environment", type=int, help="Only this environment (id).")
@click.option("--region", type=int, help="Only this region (id).")
@click.option("--health", type=click.Choice(["healthy", "progressing", "degraded", "unknown"]))
@click.option("--search", help="Service names or slugs containing this.")
@click.option("--page", type=click.IntRange(1, None), default=1, show_default=True)
@json_option
def matrix(
    team: str | None, environment: int | None, region: int | None, health: str | None, search: str | None, page: int
) -> None:
    """Services by environments: each cell the version running there (* drift from production, its health)."""
    state = session()
    params = {"team": team, "environment": environment, "region": region, "health": health, "q": search, "page": page}
    with state.client() as client:
        answer = client.get("/api/deployments/matrix/", {key: value for key, value in params.items() if value})
    if state.json_output:
        output.print_json(answer)
        return
    columns = answer.get("columns") or []
    rows = answer.get("rows") or []
    if not rows:
        output.say("No service matches.")
        return
    output.table(
        ["service", *(f"{column.get('label')}\n{column.get('detail')}" for column in columns)],
        ([row.get("service"), *(_cell(row, column) for column in columns)] for row in rows),
        title=f"Page {answer.get('page')} of {answer.get('pages')} ({answer.get('count')} services)",
    )
    if answer.get("hidden_columns"):
        output.note(f"{answer['hidden_columns']} more places run these services: filter by --environment or --region.")


def _cell(row: dict[str, Any], column: dict[str, Any]) -> str:
    cell = next((cell for cell in row.get("cells") or [] if cell.get("column") == column.get("key")), None)
    if cell is None:
        return ""
    drift = "*" if cell.get("drift") else ""
    return f"{cell.get('version')}{drift} ({cell.get('health')})"


@click.group()
def costs() -> None:
    """Cloud costs."""


@costs.command()
@click.option("--by", type=click.Choice(COST_DIMENSIONS), default="team", show_default=True, help="Break down by.")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="The first day (default: 29 days before --to).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="The last day, included (default: today).")
@click.option("--grouping", type=click.Choice(["day", "week", "month"]), help="Periods of the series (--json).")
@click.option("--basis", help="effective (default), billed, list or contracted.")
@click.option("--period", type=click.Choice(["charge", "billing"]), help="By when incurred (default) or invoice.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="DIMENSION=VALUE",
    help="Only this value of a dimension, e.g. team=student-experience (repeat for several; VALUE - for none).",
)
@json_option
def breakdown(
    by: str,
    start: str | None,
    end: str | None,
    grouping: str | None,
    basis: str | None,
    period: str | None,
    filters: tuple[str, ...],
) -> None:
    """Cost broken down by a dimension over a date range, per currency."""
    state = session()
    params: list[tuple[str, str]] = [("by", by)]
    for name, value in (("from", start), ("to", end), ("grouping", grouping), ("basis", basis), ("period", period)):
        if value:
            params.append((name, value))
    for given in filters:
        name, separator, value = given.partition("=")
        if not separator or name not in COST_DIMENSIONS or not value:
            raise click.BadParameter(
                f"{given!r}: give DIMENSION=VALUE, the dimension one of {', '.join(COST_DIMENSIONS)}.",
                param_hint="--filter",
            )
        params.append((name, value))
    with state.client() as client:
        answer = client.get("/api/costs/breakdown/", params)
    if state.json_output:
        output.print_json(answer)
        return
    rows = answer.get("rows") or []
    output.table(
        [by.replace("_", " "), "amount", "line items"],
        (
            [row.get("name"), output.money(row.get("amount"), row.get("currency")), row.get("line_items")]
            for row in rows
        ),
        title=f"Cost by {by.replace('_', ' ')}, {answer.get('from')} to {answer.get('to')} ({answer.get('basis')})",
    )
    for total in answer.get("totals") or []:
        output.say(
            f"Total {output.money(total.get('amount'), total.get('currency'))} "
            f"(of which no team's: {output.money(total.get('unallocated'), total.get('currency'))})"
        )
    if not rows:
        output.say("No cost in this range.")
