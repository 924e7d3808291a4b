"""The audit log: same-transaction writes, the append-only trigger, the hash chain and what it catches."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings
from django.urls import reverse

from access import services
from access.audit import keys as audit_keys
from access.audit import services as audit
from access.models import AuditEvent, Grant, Role, User
from access.permissions import BuiltinRole
from portal.demo import DEMO_PASSWORD, Persona
from tests.access.tampering import FORGED_INSERT, forged_event, old_unkeyed_hash, tamper
from tests.access.test_audit_completeness import TRIGGERS, World
from tests.factories import PASSWORD, TeamFactory, UserFactory, audit_events


class Boom(Exception):
    pass


# --- written with the change, or not at all ----------------------------------------


@pytest.mark.django_db
def test_a_change_that_is_rolled_back_leaves_no_event() -> None:
    user = UserFactory.create()
    viewer = Role.objects.get(slug=BuiltinRole.VIEWER)
    before = AuditEvent.objects.count()

    def grant_then_fail() -> None:
        with transaction.atomic():
            services.grant_create(actor=None, role=viewer, user=user, reason="Rolled back.")
            assert AuditEvent.objects.count() == before + 1
            raise Boom

    with pytest.raises(Boom):
        grant_then_fail()

    assert AuditEvent.objects.count() == before
    assert not Grant.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_a_change_that_commits_has_exactly_one_event_naming_it() -> None:
    user = UserFactory.create()
    viewer = Role.objects.get(slug=BuiltinRole.VIEWER)

    grant = services.grant_create(actor=None, role=viewer, user=user, reason="Kept.")

    event = AuditEvent.objects.get(verb=audit.GRANT_CREATED, object_id=str(grant.pk))
    assert event.object_type == "access.grant"
    assert event.after is not None
    assert event.after["reason"] == "Kept."


# --- the chain -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_chain_verifies_after_many_events_of_every_shape() -> None:
    team = TeamFactory.create()
    audit_events(150, team=team, before={"n": 1, "when": "2026-01-01"}, after={"n": 2, "list": [1, "a", None]})
    audit_events(50, object_repr="ünïcode ✓ " * 40, extra_field={"nested": {"deep": [1.5, True]}})

    check = audit.verify_chain()

    assert check.verified
    assert check.events == AuditEvent.objects.count() >= 200


@pytest.mark.django_db
def test_each_event_links_to_the_one_before_it() -> None:
    first, second = audit_events(2)

    assert second.previous_hash == first.hash
    assert AuditEvent.objects.order_by("pk").first().previous_hash == audit.GENESIS  # type: ignore[union-attr]


@pytest.mark.django_db
def test_an_event_from_a_canonical_or_uncanonical_ipv6_address_still_verifies() -> None:
    for address in ["2001:DB8:0:0:0:0:0:1", "::ffff:192.0.2.1", "::FFFF:C000:0207", "192.0.2.7", "fe80::1", "junk"]:
        with audit.acting(audit.RequestContext(source_ip=address)):
            audit.record(audit.TEAM_CHANGED)

    assert audit.verify_chain().verified
    assert AuditEvent.objects.order_by("-pk").values_list("source_ip", flat=True)[0] is None  # "junk"


# --- the database refuses changes -----------------------------------------------------------


@pytest.mark.django_db
def test_the_database_refuses_to_update_an_event() -> None:
    (event,) = audit_events(1)

    with pytest.raises(DatabaseError, match="append-only: UPDATE is not allowed"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(object_repr="rewritten")

    event.refresh_from_db()
    assert event.object_repr == ""


@pytest.mark.django_db
def test_the_database_refuses_to_delete_an_event() -> None:
    (event,) = audit_events(1)

    with pytest.raises(DatabaseError, match="append-only: DELETE is not allowed"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_the_database_refuses_to_truncate_the_audit_log_even_for_its_owner() -> None:
    audit_events(2)

    # The test suite connects as the owner of the table (a superuser, even).
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred foreign-key check
        with pytest.raises(DatabaseError, match="append-only: TRUNCATE is not allowed"), transaction.atomic():
            cursor.execute("TRUNCATE access_auditevent")

    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db
def test_a_truncate_that_cascades_from_another_table_is_refused_too() -> None:
    audit_events(1, team=TeamFactory.create())

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred foreign-key check
        with pytest.raises(DatabaseError, match="append-only: TRUNCATE is not allowed"), transaction.atomic():
            cursor.execute("TRUNCATE access_team CASCADE")

    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db
def test_the_append_only_triggers_fire_even_in_a_replica_session() -> None:
    (event,) = audit_events(1)

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET session_replication_role = replica")  # a superuser's way to skip ordinary triggers
        try:
            with pytest.raises(DatabaseError, match="append-only: DELETE is not allowed"), transaction.atomic():
                cursor.execute("DELETE FROM access_auditevent WHERE id = %s", [event.pk])
            with pytest.raises(DatabaseError, match="append-only: TRUNCATE is not allowed"), transaction.atomic():
                cursor.execute("TRUNCATE access_auditevent")
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")

    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- tampering is detected ------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_event_inserted_with_a_correct_unkeyed_sha256_hash_is_caught() -> None:
    """Anyone who may INSERT could compute the old chain's plain SHA-256: such an event must not verify."""
    events = audit_events(3)

    # A plain INSERT: the table accepts inserts, no trigger has to be switched off.
    with connection.cursor() as cursor:
        cursor.execute(
            FORGED_INSERT,
            forged_event(verb=audit.GRANT_CREATED, object_repr="a grant nobody made", previous_hash=events[-1].hash),
        )
        (forged_id,) = cursor.fetchone()

    check = audit.verify_chain()
    assert not check.verified
    assert check.first_bad_event == forged_id
    assert check.problem == audit.UNSIGNED


@pytest.mark.django_db
def test_an_event_with_a_recomputed_plain_sha256_in_place_of_its_mac_is_caught() -> None:
    events = audit_events(3)
    forged = AuditEvent.objects.filter(pk=events[-1].pk).values().get()
    forged["object_repr"] = "nothing to see"

    tamper(
        "UPDATE access_auditevent SET object_repr = %s, hash = %s WHERE id = %s",
        [forged["object_repr"], old_unkeyed_hash(forged), forged["id"]],
    )

    check = audit.verify_chain()
    assert check.first_bad_event == events[-1].pk
    assert check.problem == audit.CHANGED


def rechain_without_the_key(after_id: int) -> None:
    """What someone without the key does to hide a change: recompute every later hash as the old chain did."""
    rows = list(AuditEvent.objects.filter(pk__gt=after_id).order_by("pk").values())
    previous = AuditEvent.objects.filter(pk__lte=after_id).order_by("-pk").values_list("hash", flat=True).first()
    for row in rows:
        row["previous_hash"] = previous or audit.GENESIS
        previous = old_unkeyed_hash(row)
        tamper(
            "UPDATE access_auditevent SET previous_hash = %s, hash = %s WHERE id = %s",
            [row["previous_hash"], previous, row["id"]],
        )


@pytest.mark.django_db
def test_a_deleted_event_is_caught_even_when_every_later_hash_is_recomputed() -> None:
    events = audit_events(5)

    tamper("DELETE FROM access_auditevent WHERE id = %s", [events[2].pk])
    rechain_without_the_key(events[1].pk)

    check = audit.verify_chain()
    assert not check.verified
    assert check.first_bad_event == events[3].pk
    assert check.problem == audit.CHANGED


@pytest.mark.django_db
def test_a_reordered_event_is_caught_even_when_every_later_hash_is_recomputed() -> None:
    events = audit_events(4)
    first, second = events[1].pk, events[2].pk

    # Swap the ids of two neighbours, then make the chain follow the new order.
    tamper("UPDATE access_auditevent SET id = -id WHERE id = %s", [first])
    tamper("UPDATE access_auditevent SET id = %s WHERE id = %s", [first, second])
    tamper("UPDATE access_auditevent SET id = %s WHERE id = %s", [second, -first])
    rechain_without_the_key(events[0].pk)

    check = audit.verify_chain()
    assert not check.verified
    assert check.first_bad_event == first
    assert check.problem == audit.CHANGED


@pytest.mark.django_db
def test_unkeyed_events_at_the_start_of_a_fresh_log_are_caught_even_after_keyed_ones_follow() -> None:
    """Without a seal (written only when an existing log is upgraded), unkeyed events were forged."""
    with connection.cursor() as cursor:
        cursor.execute(FORGED_INSERT, forged_event(verb=audit.SIGN_IN, object_repr="", previous_hash=audit.GENESIS))
        (forged_id,) = cursor.fetchone()
    audit_events(2)

    check = audit.verify_chain()
    assert not check.verified
    assert check.first_bad_event == forged_id
    assert check.problem == audit.UNSIGNED


@pytest.mark.django_db
def test_unkeyed_events_written_before_the_chain_was_keyed_verify_once_sealed() -> None:
    previous = audit.GENESIS
    unkeyed = []
    for number in range(3):
        with connection.cursor() as cursor:
            cursor.execute(
                FORGED_INSERT, forged_event(verb=audit.SIGN_IN, object_repr=str(number), previous_hash=previous)
            )
            (event_id,) = cursor.fetchone()
        previous = AuditEvent.objects.get(pk=event_id).hash
        unkeyed.append(event_id)

    seal = audit.unkeyed_chain_seal()
    audit_events(2)

    assert seal is not None
    assert (seal.verb, seal.previous_hash, seal.extra) == (audit.AUDIT_CHAIN_KEYED, previous, {"unkeyed_events": 3})
    assert audit.unkeyed_chain_seal() is None, "a keyed log needs no seal"
    assert audit.verify_chain().verified
    # Sealed, they are as tamper-evident as the rest: an edit breaks the chain at the seal.
    tamper("UPDATE access_auditevent SET object_repr = 'edited', hash = %s WHERE id = %s", ["0" * 64, unkeyed[1]])
    assert audit.verify_chain().first_bad_event == unkeyed[1]


@pytest.mark.django_db
def test_events_signed_with_an_older_key_still_verify_after_the_key_is_rotated() -> None:
    old = audit_events(2)
    new_key = audit_keys.new_key()

    with override_settings(AUDIT_KEYS=[new_key, *settings_keys()]):
        new = audit_events(2)
        check = audit.verify_chain()

    assert check.verified
    assert {event.key_id for event in old} == {audit_keys.key_id(settings_keys()[0])}
    assert {event.key_id for event in new} == {audit_keys.key_id(new_key)}


@pytest.mark.django_db
def test_an_event_signed_with_a_key_that_is_no_longer_configured_is_named() -> None:
    (event,) = audit_events(1)

    with override_settings(AUDIT_KEYS=[audit_keys.new_key()]):
        check = audit.verify_chain()

    assert check.first_bad_event == event.pk
    assert check.problem == (f"it was signed with audit key {event.key_id}, which PORTAL_AUDIT_KEYS no longer lists")


def settings_keys() -> list[str]:
    from django.conf import settings

    return list(settings.AUDIT_KEYS)


@pytest.mark.django_db
def test_an_edited_event_is_named_as_the_first_bad_one() -> None:
    events = audit_events(5)

    tamper("UPDATE access_auditevent SET verb = 'auth.sign_in' WHERE id = %s", [events[2].pk])

    check = audit.verify_chain()
    assert not check.verified
    assert check.first_bad_event == events[2].pk
    assert check.problem == audit.CHANGED


@pytest.mark.django_db
def test_an_edit_that_recomputes_the_events_own_hash_is_caught_at_the_next_event() -> None:
    events = audit_events(5)
    forged = AuditEvent.objects.get(pk=events[2].pk)
    forged.object_repr = "nothing to see"
    forged.hash = audit.event_hash(forged)

    tamper(
        "UPDATE access_auditevent SET object_repr = %s, hash = %s WHERE id = %s",
        [forged.object_repr, forged.hash, forged.pk],
    )

    check = audit.verify_chain()
    assert check.first_bad_event == events[3].pk
    assert check.problem == "an event before it was removed or changed"


@pytest.mark.django_db
def test_a_deleted_event_is_caught_at_the_event_after_it() -> None:
    events = audit_events(5)

    tamper("DELETE FROM access_auditevent WHERE id = %s", [events[1].pk])

    check = audit.verify_chain()
    assert not check.verified
    assert check.first_bad_event == events[2].pk


@pytest.mark.django_db
def test_an_event_inserted_behind_the_portals_back_is_caught() -> None:
    events = audit_events(3)
    forged = AuditEvent(
        verb=audit.GRANT_CREATED,
        object_repr="a grant nobody made",
        previous_hash=events[-1].hash,
        occurred_at=events[-1].occurred_at,
    )
    forged.hash = "f" * 64

    tamper(
        "INSERT INTO access_auditevent (occurred_at, actor_label, verb, object_type, object_id, object_repr,"
        " request_id, extra, previous_hash, hash) VALUES (%s, '', %s, '', '', %s, '', '{}', %s, %s)",
        [forged.occurred_at, forged.verb, forged.object_repr, forged.previous_hash, forged.hash],
    )

    check = audit.verify_chain()
    inserted = AuditEvent.objects.order_by("-pk").first()
    assert inserted is not None
    assert check.first_bad_event == inserted.pk


@pytest.mark.django_db
def test_an_event_inserted_in_the_middle_is_caught() -> None:
    events = audit_events(3)
    # Make room between two events, then slip a forged one in.
    tamper("DELETE FROM access_auditevent WHERE id = %s", [events[1].pk])
    tamper(
        "INSERT INTO access_auditevent (id, occurred_at, actor_label, verb, object_type, object_id, object_repr,"
        " request_id, extra, previous_hash, hash) VALUES (%s, now(), '', 'auth.sign_in', '', '', 'forged', '', '{}',"
        " %s, %s)",
        [events[1].pk, events[0].hash, "e" * 64],
    )

    check = audit.verify_chain()
    assert check.first_bad_event == events[1].pk


# --- concurrent writers ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain() -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        try:
            start.wait()
            for number in range(15):
                with transaction.atomic():
                    audit.record(audit.TEAM_CHANGED, object_repr=f"writer {worker} event {number}")
        except BaseException as error:  # noqa: BLE001 (reported to the test thread)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    events = list(AuditEvent.objects.order_by("pk"))
    assert len(events) >= 60
    assert len({event.previous_hash for event in events}) == len(events), "two events share a predecessor"
    assert audit.verify_chain().verified


# --- who, from where, under which request -----------------------------------------------------------


def test_a_web_request_records_its_actor_source_ip_and_request_id(
    client_for: Callable[[Persona | None], Client], persona: Callable[[Persona], User]
) -> None:
    client = client_for(Persona.AUDITOR)

    response = client.get(
        reverse("access:audit-export"), headers={"X-Request-ID": "req-0123456789abcdef"}, REMOTE_ADDR="203.0.113.9"
    )
    b"".join(response.streaming_content)  # type: ignore[attr-defined]

    event = AuditEvent.objects.get(verb=audit.AUDIT_EXPORTED)
    assert event.actor == persona(Persona.AUDITOR)
    assert event.actor_label == "auditor"
    assert event.source_ip == "203.0.113.9"
    assert event.request_id == "req-0123456789abcdef"
    assert response["X-Request-ID"] == "req-0123456789abcdef"


@pytest.mark.django_db
def test_an_event_outside_a_request_names_no_address_and_the_system_when_no_one_acts() -> None:
    (event,) = audit_events(1)

    assert event.actor is None
    assert event.actor_label == ""
    assert event.source_ip is None


# --- no secrets ------------------------------------------------------------------------------------

SECRET_LOOKING = re.compile(r"password|passwd|secret|token|api[_-]?key|private|credential|hash|otp", re.IGNORECASE)


def _keys_and_values(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _keys_and_values(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [pair for item in value for pair in _keys_and_values(item, path)]
    return [(path, value)]


def test_no_event_holds_a_secret_looking_field_or_a_password(persona: Callable[[Persona], User]) -> None:
    """Every action of the completeness suite is run; no event's before, after or extra looks like a secret."""
    world = World(persona)
    for verb, triggers in TRIGGERS.items():
        for trigger in triggers:
            with transaction.atomic():
                trigger(world)
                for event in AuditEvent.objects.all():
                    for path, value in _keys_and_values(
                        {"before": event.before, "after": event.after, "extra": event.extra}
                    ):
                        assert not SECRET_LOOKING.search(path), f"{verb}: {path} looks like a secret"
                        assert value not in {DEMO_PASSWORD, PASSWORD}, f"{verb}: {path} holds a password"
                transaction.set_rollback(True)
