"""``portal costs savings|dismiss|snooze|set-ttl``: the savings page's recommendations and its actions.

The commands join the ``costs`` group in :mod:`portal_cli.main`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from portal_cli import output
from portal_cli.context import json_option, session
from portal_cli.environments import idempotency_option

SAVINGS = "/api/savings/"
KINDS = ["environment_ttl", "spot", "over_requested", "bucket_lifecycle", "database_size"]


@click.command()
@click.option("--kind", type=click.Choice(KINDS), help="Only recommendations of this kind.")
@click.option("--team", help="Only this team's (slug).")
@click.option("--search", help="Words in the title or the namespace.")
@click.option("--limit", type=click.IntRange(1, 5000), default=50, show_default=True, help="At most this many.")
@json_option
def savings(kind: str | None, team: str | None, search: str | None, limit: int) -> None:
    """Savings recommendations you may see, the largest monthly saving first (dismissed and snoozed ones hidden)."""
    state = session()
    params = {"kind": kind, "team": team, "q": search}
    with state.client() as client:
        found = client.get_all(SAVINGS, {name: value for name, value in params.items() if value}, limit=limit)
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("No recommendation matches.")
        return
    output.table(
        ["id", "saving a month", "kind", "title", "team", "you may"],
        (
            [
                item.get("id"),
                output.money(item.get("monthly_saving"), item.get("currency")),
                item.get("kind_label"),
                item.get("title"),
                item.get("team"),
                _actions(item),
            ]
            for item in found
        ),
    )
    totals: dict[str, Decimal] = {}
    for item in found:
        currency = str(item.get("currency") or "")
        totals[currency] = totals.get(currency, Decimal(0)) + Decimal(str(item.get("monthly_saving") or 0))
    saved = ", ".join(f"{amount} {currency}" for currency, amount in sorted(totals.items()))
    output.say(f"These {len(found)} would save {saved} a month.")


def _actions(item: dict[str, Any]) -> str:
    actions = ["dismiss", "snooze"] if item.get("can_change") else []
    if item.get("can_set_ttl"):
        actions.append(f"set-ttl ({item.get('action_hours')} h)")
    return ", ".join(actions)


def _show(item: dict[str, Any], done: str) -> None:
    if session().json_output:
        output.print_json(item)
        return
    output.say(f"{done}: {item.get('title')} ({output.words(item.get('status_label'))}).")


@click.command()
@click.argument("recommendation", type=click.IntRange(1, None))
@idempotency_option
@json_option
def dismiss(recommendation: int, idempotency_key: str) -> None:
    """Hide RECOMMENDATION (its id) for good; it stays dismissed when the savings are computed again."""
    with session().client() as client:
        item = client.post(f"{SAVINGS}{recommendation}/dismiss/", idempotency_key=idempotency_key)
    _show(item, "Dismissed")


@click.command()
@click.argument("recommendation", type=click.IntRange(1, None))
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True, help="How long to hide it.")
@idempotency_option
@json_option
def snooze(recommendation: int, days: int, idempotency_key: str) -> None:
    """Hide RECOMMENDATION (its id) for some days; it shows again after."""
    with session().client() as client:
        item = client.post(f"{SAVINGS}{recommendation}/snooze/", {"days": days}, idempotency_key=idempotency_key)
    _show(item, f"Snoozed until {output.words(item.get('snoozed_until'))}")


@click.command("set-ttl")
@click.argument("recommendation", type=click.IntRange(1, None))
@idempotency_option
@json_option
def set_ttl(recommendation: int, idempotency_key: str) -> None:
    """Give the environment of RECOMMENDATION (its id) the lifetime it names (the environment's team may)."""
    with session().client() as client:
        item = client.post(f"{SAVINGS}{recommendation}/set-ttl/", idempotency_key=idempotency_key)
    _show(item, f"{item.get('environment_name')} now expires in {item.get('action_hours')} hours")


COMMANDS = [savings, dismiss, snooze, set_ttl]
