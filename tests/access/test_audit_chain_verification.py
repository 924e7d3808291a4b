"""Verifying the audit chain: a cut-off log is caught by the next run, and "Verify now" runs on a real worker.

Apart from the audit page's module (which shares one demo between its tests): a worker needs committed data.
"""

from __future__ import annotations

from collections.abc import Callable

from django.test import Client
from django.urls import reverse

from access.audit import tasks as audit_tasks
from portal.celery import app as celery_app
from portal.demo import Persona
from tests.access.tampering import tamper
from tests.factories import audit_events
from tests.helpers import wait_until

CHAIN = reverse("access:audit-chain")


def test_events_cut_off_the_end_of_the_log_are_caught_by_the_next_verification(db: None) -> None:
    events = audit_events(4)
    first = audit_tasks.chain_verify(previous=None)
    assert first["verified"]
    tamper("DELETE FROM access_auditevent WHERE id >= %s", [events[2].pk])

    second = audit_tasks.chain_verify(previous=first)
    third = audit_tasks.chain_verify(previous=second)

    assert not second["verified"]
    assert second["first_bad_event"] == events[3].pk
    assert "removed from the end" in second["problem"]
    assert not third["verified"], "the alarm stays up on the next run"


def test_verify_now_runs_on_a_real_worker_and_the_status_updates(
    celery_worker_process: object, client_for: Callable[[Persona | None], Client]
) -> None:
    from portal.demo import load_demo

    load_demo()
    audit_events(2)
    client = client_for(Persona.AUDITOR)

    waiting = client.post(CHAIN, headers={"HX-Request": "true", "HX-Target": "chain-status"})
    again = client.post(CHAIN, headers={"HX-Request": "true", "HX-Target": "chain-status"})

    assert "Verification requested" in waiting.content.decode()
    assert 'hx-trigger="every 2s"' in waiting.content.decode()  # the fragment polls until done
    assert "Verification requested" in again.content.decode()  # a double click asks once

    def verified() -> str:
        body = client.get(CHAIN).content.decode()
        return body if "Last verified" in body else ""

    try:
        done = wait_until(verified)
    finally:
        # Should the task have finished between the two clicks, the second asked again: leave no task
        # in the queue for a worker of a later test to run.
        celery_app.control.purge()
    assert "Verifies" in done
    assert 'hx-trigger="every 2s"' not in done
