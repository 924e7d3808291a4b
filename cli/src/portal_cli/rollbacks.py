"""``portal deploy revisions|rollback|rollbacks|freeze|unfreeze``: what the rollback and freeze pages do.

The commands join the ``deploy`` group in :mod:`portal_cli.main`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click

from portal_cli import output
from portal_cli.api import Client, ExitCode, PortalError
from portal_cli.context import json_option, session
from portal_cli.environments import Progress, idempotency_option, wait_options

ROLLBACKS = "/api/rollbacks/"
FREEZES = "/api/freeze-windows/"
# A rollback stops in one of these; "succeeded" is the one a --wait hopes for.
ROLLBACK_ENDS = frozenset({"succeeded", "failed", "rejected", "cancelled"})


@click.command()
@click.argument("workload", type=click.IntRange(1, None))
@json_option
def revisions(workload: int) -> None:
    """What WORKLOAD (its id, from /api/workloads/) can be rolled back to, and what stands in the way."""
    state = session()
    with state.client() as client:
        answer = client.get(f"{ROLLBACKS}options/", {"workload": workload})
    if state.json_output:
        output.print_json(answer)
        return
    offered = answer.get("revisions") or []
    if offered:
        output.table(
            ["revision", "version", "made"],
            ([revision.get("revision"), revision.get("version"), revision.get("created_at")] for revision in offered),
        )
    else:
        output.say("No earlier revision to go back to.")
    for line in _obstacles(answer):
        output.note(line)


def _obstacles(answer: dict[str, Any]) -> list[str]:
    lines = [answer["problem"]] if answer.get("problem") else []
    freeze = answer.get("freeze")
    if freeze:
        lines.append(f"Frozen until {freeze.get('ends_at')}: {freeze.get('reason')}. No rollback until then.")
    if answer.get("argocd_notice"):
        lines.append(f"{answer['argocd_notice']} Pass --argocd-acknowledged once you have read this.")
    if answer.get("needs_approval"):
        lines.append("A production rollback waits for an approval before it runs.")
    return lines


@click.command()
@click.argument("workload", type=click.IntRange(1, None))
@click.option("--to-revision", type=click.IntRange(1, None), required=True, help="See `portal deploy revisions`.")
@click.option("--reason", required=True, help="Why: the approvers and the audit log read it.")
@click.option("--argocd-acknowledged", is_flag=True, help="You read what Argo CD will do to a workload it manages.")
@click.option(
    "--wait", "wait_for_end", is_flag=True, help="Follow the rollback to its end (exit 5 unless it succeeds)."
)
@idempotency_option
@wait_options
@json_option
def rollback(
    workload: int,
    to_revision: int,
    reason: str,
    argocd_acknowledged: bool,
    wait_for_end: bool,
    idempotency_key: str,
    timeout: float,
    interval: float,
) -> None:
    """Roll WORKLOAD back to an earlier revision (started at once, or after an approval in production)."""
    state = session()
    body = {
        "workload": workload,
        "to_revision": to_revision,
        "reason": reason,
        "argocd_acknowledged": argocd_acknowledged,
    }
    with state.client() as client:
        asked = client.post(ROLLBACKS, body, idempotency_key=idempotency_key)
        if wait_for_end:
            asked = follow_rollback(client, asked, timeout=timeout, interval=interval)
    _show(asked, state.json_output)


def follow_rollback(client: Client, rollback: dict[str, Any], *, timeout: float, interval: float) -> dict[str, Any]:
    """Poll the rollback until it ends: returned when it succeeded, exit 5 for another end, 6 at the timeout."""
    started = time.monotonic()
    progress = Progress()
    workload = rollback.get("workload") or {}
    current = rollback
    try:
        while True:
            elapsed = time.monotonic() - started
            status = current.get("status")
            shown = {"team": workload.get("namespace"), "name": workload.get("name"), "status": status}
            progress.update(shown, elapsed, None)
            if status == "succeeded":
                return current
            if status in ROLLBACK_ENDS:
                raise PortalError(
                    f"The rollback of {workload.get('name')} ended {output.words(status)}.",
                    ExitCode.WAIT_FAILED,
                    details=[current["error"]] if current.get("error") else [],
                    body=current,
                )
            if elapsed >= timeout:
                raise PortalError(
                    f"Gave up waiting after {int(timeout)} seconds: the rollback is still {output.words(status)}.",
                    ExitCode.TIMEOUT,
                    body=current,
                )
            time.sleep(max(0.0, min(interval, timeout - elapsed)))
            current = client.get(f"{ROLLBACKS}{current['id']}/")
    except PortalError as error:
        error.json_output = session().json_output
        raise
    finally:
        progress.stop()


def _show(rollback: dict[str, Any], json_output: bool) -> None:
    if json_output:
        output.print_json(rollback)
        return
    workload = rollback.get("workload") or {}
    output.fields(
        [
            ("rollback", rollback.get("id")),
            ("workload", f"{workload.get('namespace')}/{workload.get('name')} on {workload.get('cluster')}"),
            ("from → to", f"{rollback.get('from_version')} → {rollback.get('to_version')}"),
            ("status", output.words(rollback.get("status"))),
            *([("error", rollback["error"])] if rollback.get("error") else []),
        ]
    )


@click.command()
@click.option("--limit", type=click.IntRange(1, 5000), default=20, show_default=True, help="At most this many.")
@json_option
def rollbacks(limit: int) -> None:
    """Rollbacks you may see, newest first."""
    state = session()
    with state.client() as client:
        found = client.get_all(ROLLBACKS, limit=limit)
    if state.json_output:
        output.print_json(found)
        return
    output.table(
        ["id", "workload", "from → to", "status", "asked by"],
        (
            [
                item.get("id"),
                (item.get("workload") or {}).get("name"),
                f"{item.get('from_version')} → {item.get('to_version')}",
                output.words(item.get("status")),
                item.get("requested_by"),
            ]
            for item in found
        ),
    )


@click.command()
@click.argument("environment", type=click.IntRange(1, None))
@click.option("--until", "ends_at", required=True, help="When it ends (ISO 8601, e.g. 2026-12-24T18:00:00Z).")
@click.option("--from", "starts_at", help="When it begins (ISO 8601; default: now).")
@click.option("--reason", required=True, help="Why nothing may be deployed or rolled back there meanwhile.")
@idempotency_option
@json_option
def freeze(environment: int, ends_at: str, starts_at: str | None, reason: str, idempotency_key: str) -> None:
    """Freeze ENVIRONMENT (its id): no rollback there until the window ends."""
    state = session()
    begins = starts_at or datetime.now(UTC).isoformat(timespec="seconds")
    body = {"environment": environment, "starts_at": begins, "ends_at": ends_at, "reason": reason}
    with state.client() as client:
        window = client.post(FREEZES, body, idempotency_key=idempotency_key)
    if state.json_output:
        output.print_json(window)
        return
    output.say(
        f"{window.get('team')}/{window.get('environment_name')} is frozen from {window.get('starts_at')} "
        f"until {window.get('ends_at')} (window {window.get('id')})."
    )


@click.command()
@click.argument("window", type=click.IntRange(1, None))
@idempotency_option
@json_option
def unfreeze(window: int, idempotency_key: str) -> None:
    """End freeze WINDOW now (one not yet begun is removed)."""
    state = session()
    with state.client() as client:
        ended = client.post(f"{FREEZES}{window}/end/", idempotency_key=idempotency_key)
    if state.json_output:
        output.print_json(ended)
        return
    output.say(f"Freeze window {window} ended.")


COMMANDS = [revisions, rollback, rollbacks, freeze, unfreeze]
