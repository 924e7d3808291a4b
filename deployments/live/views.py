"""A workload's Kubernetes panel: its pods and events, and its containers' last log lines, read on demand.

Both views answer htmx with a fragment (the deployment page loads the panel
when someone asks for it) and a plain request with a page of its own. A
workload outside the user's scope is a 404; its logs, to someone who may see
the workload but not read its logs, a 403. What the cluster could not give is
said in the fragment (status 200, so htmx shows it): the rest of the page is
untouched. Nothing is cached: a log may hold personal data.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access import policy
from access.permissions import LOGS
from deployments.live.services import log_request_problem, logs_read, panel_read
from deployments.selectors import workload_get
from portal.http import HttpRequest, signed_in
from providers.cluster import EVENT_LIMIT, LOG_LIMIT_BYTES, LOG_TAIL_LINES, POD_LIMIT


@login_required
@require_GET
@never_cache
def workload_kubernetes(request: HttpRequest, pk: int) -> HttpResponse:
    """The panel: the workload's pods (the least healthy first), their events, and where their logs open."""
    user = signed_in(request)
    workload = workload_get(user=user, pk=pk)
    panel = panel_read(workload)
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
    workload = workload_get(user=user, pk=pk)
    policy.require(user, LOGS, workload)
    pod = request.GET.get("pod", "").strip()
    container = request.GET.get("container", "").strip()
    previous = request.GET.get("previous") in ("1", "true")
    refusal = log_request_problem(pod=pod, container=container, previous=previous)
    if refusal:
        return HttpResponseBadRequest(refusal)
    read = logs_read(workload, actor=user, pod=pod, container=container, previous=previous)
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
