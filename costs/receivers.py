"""A cost import's run that failed says why on its source's page."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from workflows.models import Run, RunStatus
from workflows.signals import run_finished


@receiver(run_finished, sender=Run, dispatch_uid="costs.import_finished")
def import_finished(sender: type[Run], *, run: Run, **kwargs: Any) -> None:
    from costs.models import CostSource
    from costs.workflows import IMPORT

    if run.kind == IMPORT and run.status == RunStatus.FAILED:
        CostSource.objects.filter(pk=run.params.get("source_id")).update(last_error=run.error[:2000])
