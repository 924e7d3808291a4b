"""Corrections are applied on top of their billing period once, a full reload replaces them, and a bill (billing
account and month) is counted from one source only, through the upload page and through a scheduled import.

The FOCUS specification defines corrections (columns/chargeclass.md: ChargeClass "Correction" marks a row that
corrects a previously invoiced billing period) but publishes no example file of them: the only one is a draft
on its branch 636-clarify-guidance-around-refunds. The delta and ledger files below are therefore ours, built
from the spec's usage rows: a delta file carries only the difference; a ledger file carries the reversal of the
original row and the corrected row.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.audit import services as audit
from access.models import AuditEvent
from costs.models import CostLoad, CostRollup, CostSource
from costs.sources import services as source_services
from portal.demo import Persona
from tests.costs.focus_files import focus_csv, focus_row
from tests.costs.test_sources_workflow import day_of_this_month, sandbox_export
from workflows import engine
from workflows.models import Run, RunStatus

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

# The June 2026 bill: 1,000 on one machine and 500 on another.
ORIGINAL = [
    focus_row("2026-06-10", "1000.00", ResourceId="i-large"),
    focus_row("2026-06-10", "500.00", ResourceId="i-small"),
]
# The provider found the small machine over-billed by 100 in June.
DELTA = [focus_row("2026-06-10", "-100.00", ResourceId="i-small", ChargeClass="Correction")]
LEDGER = [
    focus_row("2026-06-10", "-500.00", ResourceId="i-small", ChargeClass="Correction"),
    focus_row("2026-06-10", "400.00", ResourceId="i-small", ChargeClass="Correction"),
]
# The June bill as restated in full afterwards (it includes the correction).
RESTATED = [
    focus_row("2026-06-10", "1000.00", ResourceId="i-large"),
    focus_row("2026-06-10", "400.00", ResourceId="i-small"),
]


def upload(client: Client, rows: list[dict[str, str]], source: str = "finance-upload", **fields: Any) -> Any:
    existing = CostSource.objects.filter(name=source).first()
    target = {"source": existing.pk} if existing is not None else {"new_source": source}
    file = SimpleUploadedFile("bill.csv", focus_csv(rows).encode(), content_type="text/csv")
    return client.post(reverse("costs:upload"), {**target, **fields, "file": file}, follow=True)


def june_total() -> Decimal:
    """What the cost pages count for June 2026 (they read the rollups)."""
    total = CostRollup.objects.filter(day__year=2026, day__month=6).aggregate(total=Sum("billed_cost"))["total"]
    return total or Decimal(0)


def said(response: Any) -> str:
    return " ".join(str(message) for message in response.context["messages"])


@pytest.mark.parametrize(("kind", "rows"), [("delta", DELTA), ("ledger", LEDGER)])
def test_a_correction_file_is_applied_on_top_of_its_period_and_only_once(
    client_for: Callable[[Persona | None], Client], kind: str, rows: list[dict[str, str]]
) -> None:
    manager = client_for(Persona.MANAGER)
    upload(manager, ORIGINAL)
    assert june_total() == Decimal(1500)

    first = upload(manager, rows)
    again = upload(manager, rows)

    assert june_total() == Decimal(1400)
    count = len(rows)
    assert f"Applied {count} correction{'s' if count > 1 else ''} on top of June 2026" in said(first)
    assert "already applied to June 2026; nothing changed" in said(again)
    load = CostLoad.objects.get(source__name="finance-upload")
    assert Decimal(load.totals["USD"]["billed"]) == Decimal(1400)
    assert len(load.corrections) == 1
    sources_page = manager.get(reverse("costs:sources")).content.decode()
    assert "Replaced June 2026: 2 rows" in sources_page
    assert "on top of June 2026" in sources_page
    outcomes = [
        (event.after or {})["outcome"][0]["action"]
        for event in AuditEvent.objects.filter(verb=audit.COST_UPLOADED).order_by("pk")
    ]
    assert outcomes == ["replaced", "corrections applied", "corrections already applied"]


def test_a_full_reload_after_corrections_replaces_everything(
    client_for: Callable[[Persona | None], Client],
) -> None:
    manager = client_for(Persona.MANAGER)
    upload(manager, ORIGINAL)
    upload(manager, DELTA)

    response = upload(manager, RESTATED)

    assert "Replaced June 2026: 2 rows" in said(response)
    assert june_total() == Decimal(1400)  # the restated bill alone: the delta is not added to it again
    load = CostLoad.objects.get(source__name="finance-upload")
    assert (load.line_items, load.corrections) == (2, [])
    again = upload(manager, DELTA)  # applied on top of the restated bill, which already holds it: counted anew
    assert "Applied 1 correction on top of June 2026" in said(again)
    assert june_total() == Decimal(1300)


def test_the_same_bill_in_a_second_upload_source_is_refused_with_the_source_named(
    client_for: Callable[[Persona | None], Client],
) -> None:
    manager = client_for(Persona.MANAGER)
    upload(manager, ORIGINAL, source="finance-upload")

    refused = upload(manager, ORIGINAL, source="second-upload")

    assert refused.status_code == 400
    page = refused.content.decode()
    assert "account 111111111111 for June 2026 is loaded by the source finance-upload" in page
    assert "counted from one source only" in page
    assert june_total() == Decimal(1500)
    assert not CostSource.objects.filter(name="second-upload").exists()


def test_replacing_the_bill_loaded_by_another_source_takes_it_over_and_is_audited(
    client_for: Callable[[Persona | None], Client],
) -> None:
    manager = client_for(Persona.MANAGER)
    upload(manager, ORIGINAL, source="finance-upload")

    response = upload(manager, RESTATED, source="second-upload", replace_bills="on")

    assert response.status_code == 200
    assert "Took over the bill of account 111111111111 for June 2026 from finance-upload" in said(response)
    assert june_total() == Decimal(1400)
    first = CostLoad.objects.get(source__name="finance-upload")
    assert (first.line_items, first.coverage) == (0, {})
    event = AuditEvent.objects.filter(verb=audit.COST_UPLOADED).latest("pk")
    assert (event.after or {})["bills_taken_over"] == [
        {"account": "111111111111", "period": "2026-06-01", "from_source": "finance-upload"}
    ]


def test_corrections_to_a_bill_another_source_holds_are_refused(
    client_for: Callable[[Persona | None], Client],
) -> None:
    manager = client_for(Persona.MANAGER)
    upload(manager, ORIGINAL, source="finance-upload")

    refused = upload(manager, DELTA, source="second-upload")

    assert refused.status_code == 400
    assert "upload them into finance-upload" in refused.content.decode()
    assert june_total() == Decimal(1500)


def test_corrections_with_no_bill_to_apply_them_to_are_refused(
    client_for: Callable[[Persona | None], Client],
) -> None:
    refused = upload(client_for(Persona.MANAGER), DELTA)

    assert refused.status_code == 400
    assert "has no bill for June 2026 to apply them to" in refused.content.decode()
    assert june_total() == Decimal(0)
    assert not CostLoad.objects.exists()


def test_a_scheduled_import_of_a_bill_an_upload_holds_is_refused_and_says_why_on_the_source(
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
    client_for: Callable[[Persona | None], Client],
) -> None:
    day = day_of_this_month()
    manager = client_for(Persona.MANAGER)
    upload(manager, [focus_row(day, "1500.00")], source="finance-upload")
    export = sandbox_export(settings, tmp_path, [focus_row(day, "1500.00")])

    with django_capture_on_commit_callbacks():
        runs = source_services.import_scheduled()
    engine.advance(runs[0].pk)

    assert Run.objects.get(pk=runs[0].pk).status == RunStatus.FAILED
    export.refresh_from_db()
    month = f"{timezone.localdate():%B %Y}"
    assert f"the bill of account 111111111111 for {month} is already loaded by the source finance-upload" in (
        export.last_error
    )
    this_month = timezone.localdate().replace(day=1)
    assert CostRollup.objects.filter(day__gte=this_month).aggregate(total=Sum("billed_cost"))["total"] == Decimal(1500)
    sources_page = manager.get(reverse("costs:sources")).content.decode()
    assert "already loaded by the source finance-upload" in sources_page
