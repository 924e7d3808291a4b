"""``portal notifications``: your inbox (all, or only the unread), and marking one or all of it read."""

from __future__ import annotations

import click

from portal_cli import output
from portal_cli.context import json_option, session
from portal_cli.environments import idempotency_option

NOTIFICATIONS = "/api/notifications/"


@click.group(invoke_without_command=True)
@click.option("--unread", is_flag=True, help="Only the notifications you have not read yet.")
@click.option("--limit", type=click.IntRange(1, 5000), default=20, show_default=True, help="At most this many.")
@json_option
@click.pass_context
def notifications(ctx: click.Context, unread: bool, limit: int) -> None:
    """Your notifications, newest first (what the bell in the portal shows); `read` marks them read."""
    if ctx.invoked_subcommand is not None:
        return
    state = session()
    with state.client() as client:
        found = client.get_all(NOTIFICATIONS, {"unread": "true"} if unread else None, limit=limit)
    if state.json_output:
        output.print_json(found)
        return
    if not found:
        output.say("No unread notification." if unread else "No notification.")
        return
    output.table(
        ["id", "", "when", "title", "where"],
        (
            [
                item.get("id"),
                "" if item.get("read") else "●",
                item.get("created_at"),
                item.get("title"),
                item.get("url"),
            ]
            for item in found
        ),
    )


@notifications.command()
@click.argument("notification", type=click.IntRange(1, None), required=False)
@click.option("--all", "everything", is_flag=True, help="Mark every notification of yours read.")
@idempotency_option
@json_option
def read(notification: int | None, everything: bool, idempotency_key: str) -> None:
    """Mark NOTIFICATION (its id) read, or all of yours with --all."""
    if (notification is None) == (not everything):
        raise click.UsageError("Give a notification's id, or --all (not both).")
    state = session()
    with state.client() as client:
        if everything:
            answer = client.post(f"{NOTIFICATIONS}read-all/", idempotency_key=idempotency_key)
        else:
            answer = client.post(f"{NOTIFICATIONS}{notification}/read/", idempotency_key=idempotency_key)
    if state.json_output:
        output.print_json(answer)
    elif everything:
        marked = answer.get("marked")
        output.say(f"Marked {marked} notification{'' if marked == 1 else 's'} read; none is unread now.")
    else:
        output.say(f"Read: {answer.get('title')}" + (f" (open {answer['url']})" if answer.get("url") else ""))
