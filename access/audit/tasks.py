"""Background verification of the audit log's hash chain.

Recomputing every hash of a large log takes seconds to minutes, so the page
never does it: this task does, on a beat schedule and when someone asks
("verify now"), and leaves its result in the cache for the page to show.
"""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone
from kombu.exceptions import OperationalError

from access.audit.services import (
    ChainCheck,
    CheckpointError,
    checkpoint_check,
    checkpoint_latest,
    checkpoint_write,
    verify_chain,
)
from access.models import AuditEvent

RESULT_KEY = "audit:chain:result"
REQUESTED_KEY = "audit:chain:requested"
LOCK_KEY = "audit:chain:lock"
# Longer than any verification should take; a crashed run frees the lock when it expires.
LOCK_SECONDS = 30 * 60


def chain_status() -> dict[str, Any] | None:
    """The last verification's result (None: it never ran), with ``requested_at`` while one is awaited."""
    result: dict[str, Any] | None = cache.get(RESULT_KEY)
    requested = cache.get(REQUESTED_KEY)
    if result is None and requested is None:
        return None
    return {**(result or {}), "requested_at": requested}


def chain_verification_request() -> bool:
    """Ask for a verification now; False when one is already awaited (a double click enqueues nothing more)."""
    if not cache.add(REQUESTED_KEY, timezone.now(), timeout=LOCK_SECONDS):
        return False
    try:
        verify_audit_chain.delay()
    except OperationalError:
        cache.delete(REQUESTED_KEY)
        raise
    return True


@shared_task(name="access.audit_tasks.verify_audit_chain", ignore_result=True)
def verify_audit_chain() -> None:
    """Verify the whole chain and store the outcome; one run at a time."""
    if not cache.add(LOCK_KEY, True, timeout=LOCK_SECONDS):
        return
    try:
        chain_verify_and_store()
    finally:
        cache.delete_many([LOCK_KEY, REQUESTED_KEY])


def chain_verify_and_store() -> dict[str, Any]:
    """Verify against the last stored result, and store the new one for the page."""
    result = chain_verify(previous=cache.get(RESULT_KEY))
    cache.set(RESULT_KEY, result, timeout=None)
    return result


def chain_verify(*, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The chain check as a plain dict, plus what the chain cannot prove alone, and a new checkpoint.

    A chain proves every event follows the one before it, but not that no
    event was cut off its end, nor that the whole database was not put back
    to an older state. So each run keeps the newest event it verified (in
    Redis), checks the newest signed checkpoint (outside the database) still
    names an event the database holds as it was signed, and, when all
    verifies, writes a checkpoint of the head it verified.
    """
    started = time.monotonic()
    check = verify_chain()
    result: dict[str, Any] = {
        "verified": check.verified,
        "events": check.events,
        "first_bad_event": check.first_bad_event,
        "problem": check.problem,
        "ran_at": timezone.now(),
        "head": None,
        "checkpoint": None,
        "checkpoint_error": "",
    }
    known = (previous or {}).get("head")
    if check.verified:
        if known and not AuditEvent.objects.filter(pk=known["pk"], hash=known["hash"]).exists():
            result.update(
                verified=False,
                first_bad_event=known["pk"],
                problem="the newest event of an earlier verification is gone: events were removed from the end",
            )
        elif check.head is not None:
            known = {"pk": check.head[0], "hash": check.head[1]}
    if result["verified"]:
        result.update(_checkpoint(check))
    # A failed run keeps the earlier anchor, so the alarm stays up until someone looks.
    result["head"] = known
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def _checkpoint(check: ChainCheck) -> dict[str, Any]:
    """Check the chain against the newest checkpoint, then checkpoint its verified head."""
    try:
        latest = checkpoint_latest()
    except CheckpointError as error:
        return {"verified": False, "first_bad_event": None, "problem": str(error)}
    if latest is not None and (problem := checkpoint_check(latest)):
        return {"verified": False, "first_bad_event": latest.event_id, "problem": problem}
    if check.head is None:
        return {}
    if latest is not None and latest.event_id == check.head[0]:
        return {"checkpoint": {"event_id": latest.event_id, "written_at": latest.written_at}}
    try:
        written = checkpoint_write(check)
    except CheckpointError as error:
        return {"checkpoint_error": str(error)}
    return {"checkpoint": {"event_id": written.event_id, "written_at": written.written_at}}
