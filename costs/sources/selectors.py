"""Reads of the cost sources pages and API: sources with their loads and latest import run, rules."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from access import policy
from access.models import User
from costs.models import AttributionRule, CostLoad, CostSource
from costs.workflows import IMPORT
from workflows.models import Run

AnyUser = User | AnonymousUser


def source_list(*, user: AnyUser) -> QuerySet[CostSource]:
    """The sources ``user`` may see, each with its loads (newest period first) in one more query."""
    loads = CostLoad.objects.order_by("-billing_period_start")
    return (
        policy.restrict(CostSource.objects.all(), user, policy.VIEW)
        .select_related("account", "cluster")
        .prefetch_related(Prefetch("loads", queryset=loads))
        .order_by("name")
    )


def source_get(*, user: AnyUser, pk: int) -> CostSource:
    return get_object_or_404(source_list(user=user), pk=pk)


def latest_imports(sources: list[CostSource]) -> dict[int, Run]:
    """The newest ``costs.import`` run of each source, in one query."""
    if not sources:
        return {}
    runs = (
        Run.objects.filter(
            kind=IMPORT,
            subject_type=ContentType.objects.get_for_model(CostSource),
            subject_id__in=[str(source.pk) for source in sources],
        )
        .order_by("subject_id", "-created_at")
        .distinct("subject_id")
    )
    return {int(run.subject_id): run for run in runs}


@dataclass(frozen=True)
class LoadRow:
    """A load as the page shows it: totals per currency, never added across currencies."""

    load: CostLoad
    totals: list[tuple[str, str, str]]  # (currency, effective, billed)

    @property
    def history(self) -> list[str]:
        """What the last full load and the corrections applied on top since did, in words."""
        month = f"{self.load.billing_period_start:%B %Y}"
        corrections = self.load.corrections or []
        full = self.load.line_items - sum(int(entry.get("rows", 0)) for entry in corrections)
        said = [f"Replaced {month}: {full} rows"] if full or not corrections else []
        for entry in corrections:
            rows = int(entry.get("rows", 0))
            said.append(f"Applied {rows} correction{'s' if rows != 1 else ''} on top of {month}")
        return said


def load_rows(source: CostSource) -> list[LoadRow]:
    return [
        LoadRow(
            load,
            [(currency, sums.get("effective", "0"), sums.get("billed", "0")) for currency, sums in load.totals.items()],
        )
        for load in source.loads.all()
    ]


def rule_list(*, user: AnyUser) -> QuerySet[AttributionRule]:
    return policy.restrict(AttributionRule.objects.all(), user, policy.VIEW).select_related(
        "team", "environment", "service"
    )


def rule_get(*, user: AnyUser, pk: int) -> AttributionRule:
    return get_object_or_404(rule_list(user=user), pk=pk)
