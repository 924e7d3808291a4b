"""``portal approvals``: what waits for your decision, your own requests, approving, rejecting and withdrawing."""

from __future__ import annotations

import uuid
from typing import Any

import click

from portal_cli import output
from portal_cli.context import json_option, session

APPROVALS = "/api/approvals/"


def _show(approval: dict[str, Any]) -> None:
    if session().json_output:
        output.print_json(approval)
        return
    subject = approval.get("subject") or {}
    output.fields(
        [
            ("approval", approval.get("id")),
            ("summary", approval.get("summary")),
            ("purpose", approval.get("purpose")),
            ("status", approval.get("status")),
            ("approvals", f"{approval.get('approvals')} of {approval.get('required_approvals')}"),
            ("subject", f"{subject.get('type')} {subject.get('id')}"),
            ("requested by", approval.get("requested_by")),
            ("requested", approval.get("created_at")),
            ("decided", approval.get("decided_at")),
            ("you may decide", approval.get("can_decide")),
        ]
    )
    for reason in approval.get("reasons") or []:
        output.say(f"  why: {reason}")
    for decision in approval.get("decisions") or []:
        because = f": {decision.get('reason')}" if decision.get("reason") else ""
        output.say(f"  {decision.get('approver')} {decision.get('verdict')}d{because}")


@click.group()
def approvals() -> None:
    """Approval requests: list what waits for you, approve or reject it, withdraw your own."""


@approvals.command("list")
@click.option(
    "--scope",
    type=click.Choice(["waiting", "mine"]),
    default="waiting",
    show_default=True,
    help="waiting: for a decision you may make (oldest first); mine: asked for by you (newest first).",
)
@json_option
def list_approvals(scope: str) -> None:
    """Approval requests waiting for you, or your own."""
    state = session()
    with state.client() as client:
        found = client.get(APPROVALS, {"scope": scope})
    if state.json_output:
        output.print_json(found)
    elif not found:
        output.say("Nothing waits for your decision." if scope == "waiting" else "You have asked for no approval.")
    else:
        output.table(
            ["id", "summary", "status", "approvals", "requested by", "requested", "you may decide"],
            (
                [
                    approval.get("id"),
                    approval.get("summary"),
                    approval.get("status"),
                    f"{approval.get('approvals')} of {approval.get('required_approvals')}",
                    approval.get("requested_by"),
                    approval.get("created_at"),
                    approval.get("can_decide"),
                ]
                for approval in found
            ),
        )


@approvals.command()
@click.argument("approval", type=int)
@json_option
def show(approval: int) -> None:
    """One approval request, with its reasons and decisions."""
    with session().client() as client:
        _show(client.get(f"{APPROVALS}{approval}/"))


def _decide(approval: int, verdict: str, reason: str, idempotency_key: str | None) -> None:
    with session().client() as client:
        decided = client.post(
            f"{APPROVALS}{approval}/decide/",
            {"verdict": verdict, "reason": reason},
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )
    if not session().json_output:
        output.note(f"You {verdict}d approval request {approval}; it is now {decided.get('status')}.")
    _show(decided)


IDEMPOTENCY_HELP = "Sent as Idempotency-Key: the same key again records one decision (default: a fresh one)."


@approvals.command()
@click.argument("approval", type=int)
@click.option("--reason", default="", help="Why (optional when approving).")
@click.option("--idempotency-key", metavar="KEY", help=IDEMPOTENCY_HELP)
@json_option
def approve(approval: int, reason: str, idempotency_key: str | None) -> None:
    """Approve a request that waits for you."""
    _decide(approval, "approve", reason, idempotency_key)


@approvals.command()
@click.argument("approval", type=int)
@click.option("--reason", required=True, help="Why you reject it: the requester reads this.")
@click.option("--idempotency-key", metavar="KEY", help=IDEMPOTENCY_HELP)
@json_option
def reject(approval: int, reason: str, idempotency_key: str | None) -> None:
    """Reject a request that waits for you, saying why."""
    _decide(approval, "reject", reason, idempotency_key)


@approvals.command()
@click.argument("approval", type=int)
@click.option("--idempotency-key", metavar="KEY", help=IDEMPOTENCY_HELP)
@json_option
def withdraw(approval: int, idempotency_key: str | None) -> None:
    """Take back your own request while it waits."""
    with session().client() as client:
        withdrawn = client.post(
            f"{APPROVALS}{approval}/withdraw/", idempotency_key=idempotency_key or str(uuid.uuid4())
        )
    _show(withdrawn)
