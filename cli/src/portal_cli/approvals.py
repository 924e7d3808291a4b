"""``portal approvals``: what waits for your decision, your own requests, approving, rejecting and withdrawing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from portal_cli import output
from portal_cli.api import Client, ExitCode, PortalError
from portal_cli.context import json_option, session

APPROVALS = "/api/approvals/"
# The kinds of subject an option names (as a request shows its subject: app.model).
SUBJECT_OPTIONS = {
    "environment": "environments.environment",
    "rollback": "deployments.rollbackrequest",
    "region_request": "regions.regionrequest",
    "failover": "regions.failoverrequest",
}


def subject_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Name the request by what it is about, instead of its id: the newest about that subject (waiting, to decide)."""
    command = click.option(
        "--subject",
        metavar="TYPE:ID",
        help="The request about this subject, named as a request shows it (e.g. regions.region:3).",
    )(command)
    for name, kind in reversed(SUBJECT_OPTIONS.items()):
        command = click.option(
            f"--{name.replace('_', '-')}",
            name,
            type=click.IntRange(1, None),
            metavar="ID",
            help=f"The request about this {kind.partition('.')[2].replace('request', ' request')} (its id).",
        )(command)
    return command


def _subject(given: dict[str, Any]) -> tuple[str, str] | None:
    named = [(SUBJECT_OPTIONS[name], str(value)) for name, value in given.items() if name in SUBJECT_OPTIONS and value]
    if given.get("subject"):
        kind, separator, subject_id = str(given["subject"]).partition(":")
        if not separator or not kind or not subject_id:
            raise click.BadParameter(
                f"{given['subject']!r}: give TYPE:ID, e.g. environments.environment:42.", param_hint="--subject"
            )
        named.append((kind, subject_id))
    if len(named) > 1:
        raise click.UsageError(
            "Name one subject (one of --environment, --rollback, --region-request, --failover, --subject)."
        )
    return named[0] if named else None


def resolve(client: Client, approval: int | None, given: dict[str, Any], *, waiting: bool) -> int:
    """The id of the request meant: APPROVAL, or the one about the subject an option names (exit 4 if none)."""
    subject = _subject(given)
    if (approval is None) == (subject is None):
        raise click.UsageError("Give the approval request's id, or name what it is about (e.g. --environment ID).")
    if approval is not None:
        return approval
    assert subject is not None  # noqa: S101 (checked above)
    kind, subject_id = subject
    found = client.get(APPROVALS, {"subject_type": kind, "subject_id": subject_id})
    if waiting:
        found = [item for item in found if item.get("status") == "pending"]
    if not found:
        raise session().fail(
            PortalError(
                f"No approval request{' waiting' if waiting else ''} about {kind} {subject_id} that you may see.",
                ExitCode.NOT_FOUND,
            )
        )
    if waiting and len(found) > 1:
        choices = "; ".join(f"{item.get('id')}: {item.get('summary')}" for item in found)
        raise click.UsageError(f"Several requests about {kind} {subject_id} wait; give the id of one: {choices}.")
    return int(found[0]["id"])


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
@click.argument("approval", type=int, required=False)
@subject_options
@json_option
def show(approval: int | None, **subject: Any) -> None:
    """One approval request (APPROVAL, its id, or the newest about a subject), with its reasons and decisions."""
    with session().client() as client:
        approval = resolve(client, approval, subject, waiting=False)
        _show(client.get(f"{APPROVALS}{approval}/"))


def _decide(approval: int | None, subject: dict[str, Any], verdict: str, reason: str, key: str) -> None:
    with session().client() as client:
        approval = resolve(client, approval, subject, waiting=True)
        decided = client.post(
            f"{APPROVALS}{approval}/decide/",
            {"verdict": verdict, "reason": reason},
            idempotency_key=key,
        )
    if not session().json_output:
        output.note(f"You {verdict}d approval request {approval}; it is now {decided.get('status')}.")
    _show(decided)


IDEMPOTENCY_HELP = "Sent as Idempotency-Key: the same key again records one decision (default: a fresh one)."


@approvals.command()
@click.argument("approval", type=int, required=False)
@subject_options
@click.option("--reason", default="", help="Why (optional when approving).")
@click.option("--idempotency-key", metavar="KEY", help=IDEMPOTENCY_HELP)
@json_option
def approve(approval: int | None, reason: str, idempotency_key: str, **subject: Any) -> None:
    """Approve a request that waits for you (APPROVAL, its id, or the one waiting about a subject)."""
    _decide(approval, subject, "approve", reason, idempotency_key)


@approvals.command()
@click.argument("approval", type=int, required=False)
@subject_options
@click.option("--reason", required=True, help="Why you reject it: the requester reads this.")
@click.option("--idempotency-key", metavar="KEY", help=IDEMPOTENCY_HELP)
@json_option
def reject(approval: int | None, reason: str, idempotency_key: str, **subject: Any) -> None:
    """Reject a request that waits for you, saying why (APPROVAL, its id, or the one waiting about a subject)."""
    _decide(approval, subject, "reject", reason, idempotency_key)


@approvals.command()
@click.argument("approval", type=int)
@click.option("--idempotency-key", metavar="KEY", help=IDEMPOTENCY_HELP)
@json_option
def withdraw(approval: int, idempotency_key: str) -> None:
    """Take back your own request while it waits."""
    with session().client() as client:
        withdrawn = client.post(f"{APPROVALS}{approval}/withdraw/", idempotency_key=idempotency_key)
    _show(withdrawn)
