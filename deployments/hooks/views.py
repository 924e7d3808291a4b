"""CI/CD webhooks: the endpoint CI systems post to, and the pages that manage webhook sources.

``POST /hooks/<source name>/`` is the one place in the portal where the
authority is not a signed-in user and the policy: it is a CI system, and the
source's secret is its authority (an HMAC signature, a token, or basic
authentication, :func:`deployments.hooks.payloads.authenticate`). No session, no
CSRF token; the source's team and default service bound what it can affect.
Every refusal is a structured error (``{"error": {status, code, message},
"request_id"}``, as the API answers) and stores nothing:

- 404 ``not_found``: no active source of that name;
- 413 ``payload_too_large``: the body is over ``PORTAL_WEBHOOK_MAX_BODY_BYTES``
  (checked on ``Content-Length`` before reading, and on what is read);
- 401 ``signature_invalid``: the signature, token or password does not match;
- 400 ``invalid``: not JSON, a required field missing, no event named;
- 400 ``stale``: the event's own time is older than ``PORTAL_WEBHOOK_MAX_AGE_HOURS``.

An event the portal does not use is answered 202 ``{"status": "ignored"}``, a
delivery already applied 200 ``{"status": "duplicate"}``.

The pages (``/deployments/hooks/``) list the sources a person may see and let
whoever holds ``deployments.change`` on a team create, rotate and deactivate
its sources; a secret is shown once, on the page that answers the create or
rotate, and never again. A source's deliveries attach only to its team's
services unless its page of services names the only ones it may write to
(:func:`deployments.hooks.services.webhook_source_services_set` decides who may
add which).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import policy
from access.models import Team, User
from access.permissions import CHANGE, VIEW
from deployments.choices import CiProvider
from deployments.hooks import payloads
from deployments.hooks import services as hooks
from deployments.models import Service, WebhookSource
from portal.api.errors import error_body
from portal.forms import saved
from portal.http import HttpRequest, signed_in

logger = logging.getLogger(__name__)


# --- the endpoint ---------------------------------------------------------------------------


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status, code, message), status=status)


def _too_large() -> JsonResponse:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    return _refuse(413, "payload_too_large", f"The body is larger than {limit} bytes.")


@csrf_exempt
@require_POST
def receive(request: HttpRequest, name: str) -> JsonResponse:
    """Authenticate, read and apply one delivery of the source ``name``."""
    source = WebhookSource.objects.select_related("service", "team").filter(name=name, active=True).first()
    if source is None:
        return _refuse(404, "not_found", "No active webhook source of that name.")
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refuse(400, "invalid", "The Content-Length header is not a number.")
    if declared > limit:
        return _too_large()
    body = request.read(limit + 1)
    if len(body) > limit:
        return _too_large()
    try:
        payloads.authenticate(source.provider, source.secret, request.headers, body)
        event = payloads.parse(source.provider, request.headers, body)
    except payloads.Rejected as refusal:
        logger.info("webhook refused", extra={"source": source.name, "code": refusal.code})
        return _refuse(refusal.status, refusal.code, refusal.message)
    except payloads.Ignored as ignored:
        return JsonResponse({"status": "ignored", "event": ignored.event}, status=202)
    oldest = timezone.now() - timedelta(hours=settings.WEBHOOK_MAX_AGE_HOURS)
    if event.occurred_at is not None and event.occurred_at < oldest:
        return _refuse(400, "stale", f"The event is older than {settings.WEBHOOK_MAX_AGE_HOURS} hours.")
    outcome = hooks.webhook_receive(source=source, event=event)
    return JsonResponse({"status": str(outcome)}, status=200)


# --- the pages ------------------------------------------------------------------------------


def _teams_for(user: User) -> Any:
    """Teams the user may add a webhook source to (``deployments.change`` on the team)."""
    visible = list(policy.restrict(Team.objects.all(), user, VIEW).order_by("name"))
    allowed = [team.pk for team in visible if policy.can(user, CHANGE, WebhookSource(team=team))]
    return Team.objects.filter(pk__in=allowed).order_by("name")


class WebhookSourceForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="Part of the URL the CI system posts to: letters, digits, '.', '_' and '-'.",
    )
    provider = forms.ChoiceField(choices=CiProvider.choices)
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    service = forms.ModelChoiceField(
        queryset=Service.objects.none(),
        required=False,
        help_text="Used when an event's repository matches no service in the catalogue.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team_field = self.fields["team"]
        service_field = self.fields["service"]
        assert isinstance(team_field, forms.ModelChoiceField)  # noqa: S101 (declared above)
        assert isinstance(service_field, forms.ModelChoiceField)  # noqa: S101
        team_field.queryset = _teams_for(user)
        service_field.queryset = policy.restrict(Service.objects.all(), user, VIEW).order_by("name")


class ServicesOfTeams(forms.ModelMultipleChoiceField[Service]):
    """Services named with their team, since a list may hold several teams' services."""

    def label_from_instance(self, obj: Service) -> str:
        return f"{obj.name} ({obj.team.name})"


class WebhookSourceServicesForm(forms.Form):
    """The only services a source may write to: the services the person may change, and those already listed."""

    services = ServicesOfTeams(
        queryset=Service.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick none to let the source write to its own team's services, as it does by default.",
    )

    def __init__(self, *args: Any, user: User, source: WebhookSource, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["services"]
        assert isinstance(field, forms.ModelMultipleChoiceField)  # noqa: S101 (declared above)
        changeable = policy.restrict(Service.objects.all(), user, CHANGE).values("pk")
        field.queryset = (
            Service.objects.filter(Q(pk__in=changeable) | Q(webhook_sources=source))
            .distinct()
            .select_related("team")
            .order_by("team__name", "name")
        )


def hook_url(request: HttpRequest, source: WebhookSource) -> str:
    return request.build_absolute_uri(reverse("webhook", kwargs={"name": source.name}))


def _show_secret(request: HttpRequest, created: hooks.SourceSecret, *, rotated: bool) -> HttpResponse:
    """The only page that shows a secret (its views are ``never_cache``): it is never shown again."""
    context = {"source": created.source, "secret": created.secret, "url": hook_url(request, created.source)}
    return render(request, "deployments/hooks_secret.html", {**context, "rotated": rotated})


@login_required
@require_GET
def source_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    sources = (
        policy.restrict(WebhookSource.objects.all(), user, VIEW)
        .select_related("team", "service")
        .prefetch_related("services")
    )
    rows = [{"source": source, "can_change": policy.can(user, CHANGE, source)} for source in sources]
    context = {"rows": rows, "can_add": _teams_for(user).exists()}
    return render(request, "deployments/hooks.html", context)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def source_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if not _teams_for(user).exists():
        raise PermissionDenied("You may not add webhook sources.")
    form = WebhookSourceForm(request.POST or None, user=user)
    created = saved(request, form, lambda data: hooks.webhook_source_create(actor=user, **data))
    if created is not None:
        return _show_secret(request, created, rotated=False)
    return render(request, "deployments/hooks_form.html", {"form": form})


def _source(user: User, pk: int) -> WebhookSource:
    source = policy.restrict(WebhookSource.objects.select_related("team"), user, VIEW).filter(pk=pk).first()
    if source is None:
        raise Http404("No such webhook source.")
    policy.require(user, CHANGE, source)
    return source


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def source_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then give the source a new secret (shown once)."""
    user = signed_in(request)
    source = _source(user, pk)
    if request.method == "POST":
        return _show_secret(request, hooks.webhook_source_rotate(actor=user, source_id=source.pk), rotated=True)
    return render(request, "deployments/hooks_confirm.html", {"source": source, "action": "rotate"})


@login_required
@require_http_methods(["GET", "POST"])
def source_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then stop accepting the source's deliveries."""
    user = signed_in(request)
    source = _source(user, pk)
    if request.method == "POST":
        already = not source.active
        hooks.webhook_source_deactivate(actor=user, source_id=source.pk)
        if already:
            messages.info(request, f"{source} was already inactive.")
        else:
            messages.success(request, f"{source} deactivated: its deliveries are refused from now on.")
        return redirect("deployments:hooks")
    return render(request, "deployments/hooks_confirm.html", {"source": source, "action": "deactivate"})


@login_required
@require_http_methods(["GET", "POST"])
def source_services(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose the only services the source may write to (none: its team's)."""
    user = signed_in(request)
    source = _source(user, pk)
    form = WebhookSourceServicesForm(
        request.POST or None, user=user, source=source, initial={"services": list(source.services.all())}
    )
    updated = saved(
        request,
        form,
        lambda data: hooks.webhook_source_services_set(actor=user, source_id=source.pk, services=data["services"]),
    )
    if updated is not None:
        messages.success(request, f"{updated} now writes to {_writes_to(updated)}.")
        return redirect("deployments:hooks")
    return render(request, "deployments/hooks_services.html", {"form": form, "source": source})


def _writes_to(source: WebhookSource) -> str:
    listed = sorted(service.name for service in source.services.all())
    return ", ".join(listed) if listed else f"the services of {source.team}"
