"""Long operations of the costs app, as workflows on the engine (:mod:`workflows.engine`).

``costs.import``: read the billing periods ``params["periods"]`` of the cost
source ``params["source_id"]`` and load each (:mod:`costs.sources.load`), one step
per period. Loading a period replaces it whole, so performing a step again
(a worker killed half-way) is harmless, and a step that fails leaves the
period's previous figures as they were. A throttled or unreachable cloud is
tried again with backoff; an export run still being written is waited for;
malformed rows fail the run with the rows listed, and so does a bill
(billing account and period) another of the bill's sources already holds,
naming that source (a bill is counted once). When a run fails, the
source's ``last_error`` says why (a successful load clears it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from workflows.engine import NotYet, PlannedStep, StepContext, StepFailed, Workflow, register

IMPORT = "costs.import"
# How long an export run that is still being written is waited for, and how often it is looked at.
EXPORT_WAIT = timedelta(hours=6)
EXPORT_RECHECK_SECONDS = 600.0


@register
class ImportCosts(Workflow):
    """``costs.import`` of one source: a step per billing period, newest first."""

    kind = IMPORT
    step_attempts = 4
    backoff_base_seconds = 15.0
    backoff_cap_seconds = 600.0
    max_wait = EXPORT_WAIT

    def plan(self, params: Mapping[str, Any]) -> Sequence[PlannedStep]:
        return [PlannedStep(f"Billing period {period[:7]}", "load", {"period": period}) for period in params["periods"]]

    def do_load(self, ctx: StepContext) -> Mapping[str, Any]:
        from costs.models import CostSource
        from costs.sources.load import ExportNotReady, ImportFailed, import_period

        source = CostSource.objects.select_related("account").filter(pk=ctx.run_params["source_id"]).first()
        if source is None:
            raise StepFailed("The cost source no longer exists.")
        try:
            load = import_period(source, date.fromisoformat(ctx.params["period"]))
        except ImportFailed as error:
            raise StepFailed(str(error)) from None
        except ExportNotReady as error:
            raise NotYet(str(error), retry_after=EXPORT_RECHECK_SECONDS) from None
        if load is None:
            return {"skipped": "final, or nothing exported yet"}
        return {
            "line_items": load.line_items,
            "final": load.final,
            "requests": load.requests,
            "request_cost": str(load.request_cost),
            "totals": load.totals,
        }
