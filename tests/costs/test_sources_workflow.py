"""Imports run as ``costs.import`` workflows: one per source and trigger, a step per period, failures recorded
on the source; and one import through a real Celery worker."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from access.audit import services as audit
from access.models import AuditEvent, User
from costs.choices import SourceKind
from costs.models import CostLoad, CostSource
from costs.sources import services as source_services
from costs.sources.load import account_driver
from costs.store import month_start
from costs.workflows import IMPORT
from portal.demo import Persona
from providers.cloud import BucketSpec
from regions.models import CloudAccount
from tests.costs.focus_files import focus_csv, focus_row
from tests.factories import CloudAccountFactory
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until
from workflows import engine
from workflows.models import Run, RunStatus


def this_month() -> str:
    return f"{month_start(timezone.localdate()):%Y-%m}"


def day_of_this_month() -> str:
    return f"{this_month()}-01"


def sandbox_export(settings: Any, tmp_path: Path, rows: list[dict[str, str]], name: str = "aws-focus") -> CostSource:
    """An export source on a sandbox account whose bucket holds this month's export with ``rows``."""
    settings.DATA_DIR = tmp_path
    account = CloudAccount.objects.get(pk=CloudAccountFactory().pk)  # type: ignore[attr-defined]
    source = CostSource.objects.create(
        name=name, kind=SourceKind.FOCUS_EXPORT, account=account, bucket="focus-exports", prefix="exports"
    )
    write_export(source, rows)
    return source


def write_export(source: CostSource, rows: list[dict[str, str]]) -> None:
    assert source.account is not None
    driver = account_driver(source.account)
    driver.ensure_bucket(BucketSpec(name="focus-exports"))
    key = f"exports/focus/data/BILLING_PERIOD={this_month()}/focus-00001.csv.gz"
    driver.put_object("focus-exports", key, gzip.compress(focus_csv(rows).encode()))  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_a_scheduled_import_reads_this_month_and_last_one_step_each_and_loads_them(
    settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    source = sandbox_export(settings, tmp_path, [focus_row(day_of_this_month(), "42.00")])

    with django_capture_on_commit_callbacks():  # the enqueue is not sent: the test advances the run itself
        runs = source_services.import_scheduled()
    engine.advance(runs[0].pk)

    run = Run.objects.get(pk=runs[0].pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert [step.name for step in run.steps.order_by("position")] == [
        f"Billing period {this_month()}",
        f"Billing period {month_start(month_start(timezone.localdate()) - timedelta(days=1)):%Y-%m}",
    ]
    load = CostLoad.objects.get(source=source)
    assert (load.line_items, load.totals["USD"]["billed"]) == (1, "42.0000000000")
    assert not AuditEvent.objects.filter(verb=audit.COST_IMPORT_REQUESTED).exists()  # the schedule is not audited


@pytest.mark.django_db
def test_two_imports_asked_for_at_once_are_one_run(
    settings: Any, tmp_path: Path, persona: Callable[[Persona], User]
) -> None:
    source = sandbox_export(settings, tmp_path, [focus_row(day_of_this_month())])
    manager = persona(Persona.MANAGER)

    scheduled = source_services.import_request(actor=None, source_id=source.pk)
    asked = source_services.import_request(actor=manager, source_id=source.pk)

    assert scheduled is not None
    assert asked is not None
    assert asked.pk == scheduled.pk
    assert Run.objects.filter(kind=IMPORT).count() == 1


@pytest.mark.django_db
def test_a_failed_import_keeps_the_previous_figures_and_says_why_on_the_source(
    settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    source = sandbox_export(settings, tmp_path, [focus_row(day_of_this_month(), "5.00")])
    with django_capture_on_commit_callbacks():
        first = source_services.import_request(actor=None, source_id=source.pk)
    assert first is not None
    engine.advance(first.pk)
    write_export(source, [focus_row(day_of_this_month(), "6.00"), focus_row(day_of_this_month(), "six")])
    Run.objects.filter(pk=first.pk).update(key="an earlier slot")

    with django_capture_on_commit_callbacks():
        second = source_services.import_request(actor=None, source_id=source.pk)
    assert second is not None
    assert second.pk != first.pk
    engine.advance(second.pk)

    assert Run.objects.get(pk=second.pk).status == RunStatus.FAILED
    source.refresh_from_db()
    assert "line 3, BilledCost" in source.last_error
    assert "'six' is not a number" in source.last_error
    assert CostLoad.objects.get(source=source).totals["USD"]["billed"] == "5.0000000000"


@pytest.mark.django_db
def test_disabled_sources_are_not_imported_on_the_schedule(settings: Any, tmp_path: Path) -> None:
    source = sandbox_export(settings, tmp_path, [focus_row(day_of_this_month())])
    CostSource.objects.filter(pk=source.pk).update(enabled=False)

    assert source_services.import_scheduled() == []


@pytest.mark.django_db
def test_import_now_is_audited_and_refused_to_people_without_costs_change(
    settings: Any, tmp_path: Path, persona: Callable[[Persona], User]
) -> None:
    source = sandbox_export(settings, tmp_path, [focus_row(day_of_this_month())])

    run = source_services.import_request(actor=persona(Persona.PLATFORM_ADMIN), source_id=source.pk)

    event = AuditEvent.objects.get(verb=audit.COST_IMPORT_REQUESTED)
    assert run is not None
    assert event.after is not None
    assert event.after["run"] == run.key
    with pytest.raises((PermissionDenied, Http404)):
        source_services.import_request(actor=persona(Persona.DEVELOPER), source_id=source.pk)


@pytest.mark.django_db
def test_a_source_whose_periods_are_all_final_starts_no_run(settings: Any, tmp_path: Path) -> None:
    source = sandbox_export(settings, tmp_path, [focus_row(day_of_this_month())])
    current = month_start(timezone.localdate())
    for period in (current, month_start(current - timedelta(days=1))):
        CostLoad.objects.create(source=source, billing_period_start=period, final=True)

    assert source_services.import_request(actor=None, source_id=source.pk) is None


def test_the_worker_imports_a_source_through_the_task(
    start_celery_worker: WorkerFactory, settings: Any, tmp_path: Path
) -> None:
    source = sandbox_export(settings, tmp_path, [focus_row(day_of_this_month(), "12.34")])
    start_celery_worker(env={"PORTAL_DATA_DIR": str(tmp_path)})

    from costs.tasks import import_sources

    import_sources.delay()

    run = wait_until(lambda: Run.objects.filter(kind=IMPORT, status=RunStatus.SUCCEEDED).first(), timeout=60)
    assert run is not None
    assert run.params["source_id"] == source.pk
    load = CostLoad.objects.get(source=source, billing_period_start=month_start(timezone.localdate()))
    assert load.totals["USD"]["billed"] == "12.3400000000"
