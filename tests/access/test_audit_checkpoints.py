"""Signed checkpoints of the audit chain, kept outside the database, and the verify command.

The chain alone proves each event follows the one before it. It cannot tell
a database put back to an older state (a restored backup, a rewritten
table) and used since: that chain verifies too. The checkpoint, signed with
the audit key and written where the database's users cannot reach, can.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from access.audit import keys as audit_keys
from access.audit import services as audit
from access.audit import tasks as audit_tasks
from tests.access.tampering import tamper
from tests.factories import audit_events

pytestmark = pytest.mark.django_db


def written_checkpoints() -> list[dict[str, object]]:
    return [json.loads(line) for line in audit.checkpoint_file().read_text().splitlines()]


def test_a_verification_writes_a_signed_checkpoint_of_its_head_outside_the_database() -> None:
    events = audit_events(3)

    result = audit_tasks.chain_verify(previous=None)

    assert audit.checkpoint_file().parent == Path(settings.AUDIT_CHECKPOINT_DIR)
    (written,) = written_checkpoints()
    assert (written["event_id"], written["hash"], written["events"]) == (events[-1].pk, events[-1].hash, 3)
    assert written["key_id"] == audit.signing_key().id
    assert written["database"] == connection.settings_dict["NAME"]
    assert len(str(written["signature"])) == 64
    assert result["checkpoint"] == {"event_id": events[-1].pk, "written_at": written["written_at"]}
    assert audit.checkpoint_latest() == audit.Checkpoint(**written)  # type: ignore[arg-type]


def test_a_verification_with_nothing_new_writes_no_second_checkpoint() -> None:
    audit_events(2)
    first = audit_tasks.chain_verify(previous=None)

    audit_tasks.chain_verify(previous=first)

    assert len(written_checkpoints()) == 1


def test_a_database_put_back_behind_a_checkpoint_is_caught_though_its_own_chain_verifies() -> None:
    events = audit_events(3)
    audit_tasks.chain_verify(previous=None)
    # Restored from a backup taken after the first event (its sequence too), then used again: the portal
    # writes new events under the ids the lost ones had. Redis, and the anchor it kept, were restored too.
    tamper("DELETE FROM access_auditevent WHERE id > %s", [events[0].pk])
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('access_auditevent', 'id'), %s)", [events[0].pk])
    since = audit_events(2)
    assert since[-1].pk == events[-1].pk
    assert audit.verify_chain().verified, "the chain alone cannot tell"

    result = audit_tasks.chain_verify(previous=None)

    assert not result["verified"]
    assert result["first_bad_event"] == events[-1].pk
    assert result["problem"].startswith("the database was rolled back or altered behind the signed checkpoint of")
    assert result["problem"].endswith(f"event #{events[-1].pk} is not the one it signed")
    assert not audit_tasks.chain_verify(previous=result)["verified"], "the alarm stays up on the next run"


def test_events_removed_behind_a_checkpoint_are_caught_when_the_anchor_in_redis_is_lost_too() -> None:
    events = audit_events(3)
    audit_tasks.chain_verify(previous=None)
    tamper("DELETE FROM access_auditevent WHERE id > %s", [events[0].pk])

    result = audit_tasks.chain_verify(previous=None)

    assert not result["verified"]
    assert result["problem"].endswith(f"event #{events[-1].pk} is gone")


def test_a_log_emptied_by_someone_who_switched_the_triggers_off_is_caught_by_its_checkpoint() -> None:
    events = audit_events(3)
    audit_tasks.chain_verify(previous=None)
    # Only the table's owner can do this (the application's role cannot: test_audit_database_roles.py).
    tamper("DELETE FROM access_auditevent")

    result = audit_tasks.chain_verify(previous=None)

    assert not result["verified"]
    assert result["events"] == 0
    assert result["problem"].endswith(f"event #{events[-1].pk} is gone")


def test_a_checkpoint_altered_outside_the_database_is_refused() -> None:
    events = audit_events(2)
    audit_tasks.chain_verify(previous=None)
    path = audit.checkpoint_file()
    (written,) = written_checkpoints()
    # Someone who can write the directory but holds no key points the checkpoint at an older event.
    path.write_text(json.dumps({**written, "event_id": events[0].pk, "hash": events[0].hash}) + "\n")

    result = audit_tasks.chain_verify(previous=None)

    assert not result["verified"]
    assert result["first_bad_event"] is None
    assert result["problem"] == f"the signature of the newest checkpoint in {path} does not match: the file was altered"


def test_a_checkpoint_signed_with_an_older_key_still_verifies_after_the_key_is_rotated() -> None:
    audit_events(2)
    audit_tasks.chain_verify(previous=None)
    old_key_id = audit.signing_key().id

    with override_settings(AUDIT_KEYS=[audit_keys.new_key(), *settings.AUDIT_KEYS]):
        latest = audit.checkpoint_latest()
        audit_events(1)
        result = audit_tasks.chain_verify(previous=None)
        newest = audit.checkpoint_latest()

    assert latest is not None
    assert latest.key_id == old_key_id
    assert result["verified"]
    assert newest is not None
    assert newest.key_id != old_key_id


def test_a_checkpoint_that_cannot_be_written_is_reported_and_the_chain_still_verifies() -> None:
    audit_events(1)
    # A directory nobody can create, not even root: where a misconfigured mount would leave the portal.
    nowhere = Path("/proc/portal-audit-checkpoints")

    with override_settings(AUDIT_CHECKPOINT_DIR=nowhere):
        result = audit_tasks.chain_verify(previous=None)

    assert result["verified"]
    assert result["checkpoint"] is None
    assert result["checkpoint_error"].startswith(f"no checkpoint could be written to {nowhere}/")


def test_a_checkpoint_file_that_cannot_be_read_is_not_trusted(tmp_path: Path) -> None:
    audit_events(1)
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")

    with override_settings(AUDIT_CHECKPOINT_DIR=not_a_directory):
        result = audit_tasks.chain_verify(previous=None)

    assert not result["verified"]
    assert result["problem"].startswith(f"the checkpoint file {not_a_directory}/")


# --- manage.py audit_verify --------------------------------------------------------------------


def test_the_verify_command_reports_a_verified_log_and_writes_its_checkpoint() -> None:
    events = audit_events(2)
    output = StringIO()

    call_command("audit_verify", stdout=output)

    assert output.getvalue() == f"The audit log verifies: 2 events; checkpoint at event #{events[-1].pk}.\n"
    assert written_checkpoints()[0]["event_id"] == events[-1].pk
    assert cache.get(audit_tasks.RESULT_KEY)["verified"], "the audit page shows the command's result too"


def test_the_verify_command_exits_1_naming_the_first_bad_event_and_why() -> None:
    events = audit_events(3)
    tamper("UPDATE access_auditevent SET object_repr = 'forged' WHERE id = %s", [events[1].pk])

    with pytest.raises(CommandError) as refused:
        call_command("audit_verify")

    assert refused.value.returncode == 1
    assert str(refused.value) == f"The audit log does not verify at event #{events[1].pk}: {audit.CHANGED}."
    assert not audit.checkpoint_file().exists(), "a broken chain is never checkpointed"
