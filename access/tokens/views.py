"""The API tokens page: your tokens, a new one (its secret shown once), revoking one."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from access.models import Role, Team
from access.tokens import selectors, services
from portal.http import HttpRequest, signed_in

DEFAULT_LIFETIME_DAYS = 90


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “deploy pipeline”.")
    team = forms.ModelChoiceField(queryset=Team.objects.all(), empty_label=None)
    role = forms.ModelChoiceField(
        queryset=Role.objects.all(), empty_label=None, help_text="At most what you hold on that team yourself."
    )
    expires_on = forms.DateField(
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=f"The token stops working at the start of that day ({settings.TIME_ZONE}).",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        today = timezone.localdate()
        self.fields["expires_on"].initial = today + timedelta(days=DEFAULT_LIFETIME_DAYS)
        self.fields["expires_on"].widget.attrs.update(
            {"min": (today + timedelta(days=1)).isoformat(), "max": self.latest().isoformat()}
        )

    @staticmethod
    def latest() -> date:
        return timezone.localdate() + timedelta(days=settings.API_TOKEN_MAX_DAYS)

    def expires_at(self) -> datetime:
        day: date = self.cleaned_data["expires_on"]
        return timezone.make_aware(datetime.combine(day, time.min))


def _list_page(
    request: HttpRequest, form: ApiTokenForm, created: services.NewApiToken | None = None, status: int = 200
) -> HttpResponse:
    tokens = selectors.api_token_list(user=signed_in(request))
    response = render(
        request,
        "access/tokens/token_list.html",
        {"tokens": tokens, "form": form, "created": created, "max_days": settings.API_TOKEN_MAX_DAYS},
        status=status,
    )
    if created is not None:
        response["Cache-Control"] = "no-store"  # the page holds a secret: no cache may keep it
    return response


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """Your tokens, and the form for a new one; a created token's secret is shown on the answer, once."""
    if request.method != "POST":
        return _list_page(request, ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    try:
        created = services.api_token_create(
            actor=signed_in(request),
            name=form.cleaned_data["name"],
            team=form.cleaned_data["team"],
            role=form.cleaned_data["role"],
            expires_at=form.expires_at(),
        )
    except ValidationError as error:
        for field, problems in error.message_dict.items():
            form.add_error("expires_on" if field == "expires_at" else field, problems)
        return _list_page(request, form, status=400)
    return _list_page(request, ApiTokenForm(), created=created)


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Ask for confirmation (GET), then revoke (POST). Another person's token is a 404."""
    user = signed_in(request)
    if request.method == "POST":
        token = services.api_token_revoke(actor=user, token_id=token_id)
        messages.success(request, f"The token “{token.name}” is revoked; calls using it are refused from now on.")
        return redirect("access:tokens")
    token = selectors.api_token_revocable(user=user, pk=token_id)
    return render(request, "access/tokens/token_revoke.html", {"token": token})
