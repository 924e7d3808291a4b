"""A workload's Kubernetes panel: its pods and events, and its containers' last log lines, read on demand.

Both views answer htmx with a fragment (the deployment page loads the panel
when someone asks for it) and a plain request with a page of its own. A
workload outside the user's scope is a 404; its logs, to someone who may see
the workload but not read its logs, a 403. What the cluster could not give is
said in the fragment (status 200, so htmx shows it): the rest of the page is
untouched. Nothing is cached: a log may hold personal data.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access import policy
from access.models import User
from access.permissions import LOGS, VIEW
from deployments.live import LogRead, Panel, workload_logs, workload_panel
from deployments.models import Workload
from portal.http import HttpRequest, signed_in
from providers.cluster import EVENT_LIMIT, LOG_LIMIT_BYTES, LOG_TAIL_LINES, POD_LIMIT

logger = logging.getLogger(__name__)

UNEXPECTED = (
    "Something went wrong while the portal read the cluster; the error is in the portal's log under this "
    "request's id. Try again, or tell the platform team."
)


def _workload(user: User, pk: int) -> Workload:
    return get_object_or_404(
        policy.restrict(Workload.objects.select_related("cluster__region", "team", "service"), user, VIEW), pk=pk
    )


@login_required
@require_GET
@never_cache
def workload_kubernetes(request: HttpRequest, pk: int) -> HttpResponse:
    """The panel: the workload's pods (the least healthy first), their events, and where their logs open."""
    user = signed_in(request)
    workload = _workload(user, pk)
    try:
        panel = workload_panel(workload)
    except Exception:  # never a 500 in the middle of the deployment page: the panel says so instead
        logger.exception("the Kubernetes panel of workload %s failed", workload.pk)
        panel = Panel(workload, problem=UNEXPECTED)
    context = {
        "workload": workload,
        "panel": panel,
        "can_read_logs": policy.can(user, LOGS, workload),
        "pod_limit": POD_LIMIT,
        "event_limit": EVENT_LIMIT,
    }
    template = "deployments/_kubernetes.html" if request.htmx else "deployments/workload_kubernetes.html"
    return render(request, template, context)


@login_required
@require_GET
@never_cache
def workload_log(request: HttpRequest, pk: int) -> HttpResponse:
    """The last lines of one pod's containers' logs (``?pod=``, optionally ``&container=`` and ``&previous=1``)."""
    user = signed_in(request)
    workload = _workload(user, pk)
    policy.require(user, LOGS, workload)
    pod = request.GET.get("pod", "").strip()
    container = request.GET.get("container", "").strip()
    previous = request.GET.get("previous") in ("1", "true")
    if not pod or len(pod) > 253 or len(container) > 63 or (previous and not container):
        return HttpResponseBadRequest("Name a pod of the workload (and a container for its previous instance).")
    try:
        read = workload_logs(workload, actor=user, pod=pod, container=container, previous=previous)
    except Exception:  # the log's text is never in the message: the driver's errors carry the API's words only
        logger.exception("reading the logs of workload %s failed", workload.pk)
        read = LogRead(problem=UNEXPECTED)
    context = {
        "workload": workload,
        "read": read,
        "entry": next(iter(read.entries), None),
        "pod_name": pod,
        "previous": previous,
        "tail_lines": LOG_TAIL_LINES,
        "limit_kib": LOG_LIMIT_BYTES // 1024,
    }
    # One container's box is replaced in place (its previous instance, or again); a pod's logs fill the panel's.
    template = "deployments/_container_log.html" if container else "deployments/_pod_logs.html"
    if not request.htmx:
        template = "deployments/workload_log.html"
    return render(request, template, context)
