"""Environments' lifetimes on a controlled clock: owners warned a day and an hour before expiry, once
each; at expiry the environment is torn down by the reverse workflow and its quota freed; extending
warns again; production never expires; a failed teardown is left to a person."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from time_machine import TimeMachineFixture

from access.audit import services as audit
from access.models import AuditEvent, User
from environments import services
from environments.choices import EnvironmentStatus
from environments.models import Environment
from environments.tasks import expire
from notifications.models import Notification
from portal.demo import Persona
from regions.drivers import cluster_driver_for
from tests.environments.test_provisioning_workflow import run_to_the_end
from tests.environments.test_requests import cluster, request, team
from workflows.models import Run, RunStatus

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> Callable[[timedelta], None]:
    """Stop the clock at START; ``clock(delta)`` sets it to START + delta."""
    time_machine.move_to(START, tick=False)
    return lambda delta: time_machine.move_to(START + delta, tick=False)


@pytest.fixture
def sandbox(demo: None, settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path


@pytest.fixture
def developer(persona: Callable[[Persona], User]) -> User:
    return persona(Persona.DEVELOPER)


@pytest.fixture
def lead(persona: Callable[[Persona], User]) -> User:
    return persona(Persona.TEAM_LEAD)


def ready(developer: User, **changes: Any) -> Environment:
    environment = request(developer, **changes)
    run = Run.objects.get(key=f"environment:{environment.pk}:provision")
    assert run_to_the_end(run).status == RunStatus.SUCCEEDED
    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.READY
    return environment


def told(user: User, kind: str) -> list[str]:
    return list(Notification.objects.filter(recipient=user, kind=kind).order_by("pk").values_list("title", flat=True))


def namespaces() -> list[str]:
    driver = cluster_driver_for(cluster())
    return [item["metadata"]["name"] for item in driver.objects("Namespace")]  # type: ignore[attr-defined]


def test_owners_are_warned_a_day_then_an_hour_before_and_the_environment_is_torn_down_at_expiry(
    sandbox: None, clock: Callable[[timedelta], None], developer: User, lead: User
) -> None:
    environment = ready(developer, ttl_hours=48)
    assert environment.expires_at == START + timedelta(hours=48)
    assert "checkout-preview-core-services" in namespaces()

    assert services.environments_expire() == services.ExpirySweep(warned={1: [], 24: []}, expired=[])

    clock(timedelta(hours=24, minutes=1))
    assert services.environments_expire().warned == {1: [], 24: [environment.pk]}
    assert told(developer, "environments.expiring") == ["Environment checkout-preview expires 23\xa0hours from now"]
    assert told(lead, "environments.expiring") == told(developer, "environments.expiring")  # the team's lead too
    clock(timedelta(hours=30))
    assert services.environments_expire().warned == {1: [], 24: []}  # told once
    assert len(told(developer, "environments.expiring")) == 1

    clock(timedelta(hours=47, minutes=30))
    assert services.environments_expire().warned == {1: [environment.pk], 24: []}
    assert told(developer, "environments.expiring")[-1] == "Environment checkout-preview expires 30\xa0minutes from now"

    clock(timedelta(hours=47, minutes=59))
    assert services.environments_expire().expired == []  # not yet
    clock(timedelta(hours=48, minutes=1))
    assert services.environments_expire().expired == [environment.pk]
    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.TEARING_DOWN
    event = AuditEvent.objects.filter(verb=audit.ENVIRONMENT_TEARDOWN, object_id=str(environment.pk)).get()
    assert (event.actor, event.actor_label, event.extra["reason"]) == (None, "system", "expired")
    assert told(lead, "environments.expired") == ["Environment checkout-preview expired and is being torn down"]
    assert services.environments_expire().expired == []  # asking again changes nothing

    run_to_the_end(Run.objects.get(key=f"environment:{environment.pk}:provision:undo"))
    environment.refresh_from_db()
    assert environment.status == EnvironmentStatus.TORN_DOWN
    assert not [name for name in namespaces() if name.startswith("checkout-preview-")]
    assert not Environment.objects.live().filter(team=team()).exists()  # the team's quota is free again


def test_an_environment_shorter_lived_than_a_warning_gets_only_the_nearer_one(
    sandbox: None, clock: Callable[[timedelta], None], developer: User
) -> None:
    environment = ready(developer, ttl_hours=2)

    clock(timedelta(minutes=5))
    assert services.environments_expire().warned == {1: [], 24: []}  # not "expires in 2 hours" as it starts
    clock(timedelta(hours=1, minutes=30))
    assert services.environments_expire().warned == {1: [environment.pk], 24: []}
    assert len(told(developer, "environments.expiring")) == 1


def test_extending_moves_the_expiry_and_the_warnings_come_again(
    sandbox: None, clock: Callable[[timedelta], None], developer: User
) -> None:
    environment = ready(developer, ttl_hours=48)
    clock(timedelta(hours=47, minutes=30))
    assert services.environments_expire().warned == {1: [environment.pk], 24: []}

    services.environment_extend(actor=developer, environment_id=environment.pk, hours=24)

    clock(timedelta(hours=48, minutes=1))
    sweep = services.environments_expire()
    assert sweep.expired == []
    assert sweep.warned == {1: [], 24: [environment.pk]}  # a day before the new expiry
    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.READY
    assert len(told(developer, "environments.expiring")) == 2


def test_production_never_expires(
    sandbox: None, clock: Callable[[timedelta], None], developer: User, persona: Callable[[Persona], User]
) -> None:
    environment = request(developer, "production", name="checkout")
    assert environment.expires_at is None
    Environment.objects.filter(pk=environment.pk).update(status=EnvironmentStatus.READY)

    clock(timedelta(days=3650))
    assert services.environments_expire() == services.ExpirySweep(warned={1: [], 24: []}, expired=[])
    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.READY


def test_a_failed_teardown_at_expiry_is_left_for_a_person_not_retried_every_minute(
    sandbox: None, clock: Callable[[timedelta], None], developer: User
) -> None:
    environment = ready(developer, ttl_hours=2)
    clock(timedelta(hours=2, minutes=1))
    assert services.environments_expire().expired == [environment.pk]
    undo = Run.objects.get(key=f"environment:{environment.pk}:provision:undo")
    Run.objects.filter(pk=undo.pk).update(status=RunStatus.FAILED)
    Environment.objects.filter(pk=environment.pk).update(status=EnvironmentStatus.FAILED)

    clock(timedelta(hours=2, minutes=2))
    assert services.environments_expire().expired == []
    assert AuditEvent.objects.filter(verb=audit.ENVIRONMENT_TEARDOWN).count() == 1


def test_the_beat_task_runs_the_sweep(sandbox: None, clock: Callable[[timedelta], None], developer: User) -> None:
    environment = ready(developer, ttl_hours=2)
    clock(timedelta(hours=3))

    result = expire.apply().get()

    assert result == {"warned": {"1": [], "24": []}, "expired": [environment.pk]}
    assert Environment.objects.get(pk=environment.pk).status == EnvironmentStatus.TEARING_DOWN
