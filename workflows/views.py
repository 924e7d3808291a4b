"""What pages that follow a workflow run share: its progress partial, polled until the run ends."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import HttpResponse
from django.shortcuts import render

from portal.http import HttpRequest
from workflows.models import Run
from workflows.selectors import run_context


def run_progress(request: HttpRequest, run: Run | None, urls: Mapping[str, str]) -> HttpResponse:
    """The run's progress partial (empty before there is a run) with the poll, retry and cancel ``urls``.

    Once the run has ended, an htmx poll is told to reload the whole page, for the subject's new status and
    actions.
    """
    if run is None:
        return HttpResponse("")
    response = render(request, "workflows/_run.html", {**run_context(run), **urls})
    if not run.is_active and request.htmx:
        response["HX-Refresh"] = "true"
    return response
