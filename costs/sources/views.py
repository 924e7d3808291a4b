"""The cost sources pages: sources with their loads and imports, add / edit / disable, "Import now", the FOCUS
upload, and the attribution rules.

Sources and rules belong to no team, like the price table: people who hold
``costs.view`` without a team limit (managers, platform admins) open the
pages, those who hold ``costs.change`` so change them; everyone else gets 403
on a page and 404 on an object.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from access import policy
from access.models import User
from access.permissions import CHANGE, VIEW
from costs.models import AttributionRule, CostSource
from costs.sources import selectors as source_selectors
from costs.sources import services as source_services
from costs.sources.forms import ReattributeForm, RuleForm, SourceForm, UploadForm
from costs.sources.load import IMPORTERS
from portal.forms import add_service_error, saved
from portal.http import HttpRequest, signed_in


def _require(user: User, action: str, obj: CostSource | AttributionRule) -> None:
    """403 unless ``user`` may ``action`` sources or rules, which belong to no team (asked about an unsaved one)."""
    if not policy.can(user, action, obj):
        verb = "see" if action == VIEW else "change"
        raise PermissionDenied(f"You may not {verb} the cost sources.")


@login_required
def source_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    _require(user, VIEW, CostSource())
    sources = list(source_selectors.source_list(user=user))
    runs = source_selectors.latest_imports(sources)
    rows = [
        {
            "source": source,
            "run": runs.get(source.pk),
            "loads": source_selectors.load_rows(source),
            "importable": source.kind in IMPORTERS,
        }
        for source in sources
    ]
    context = {"rows": rows, "can_change": policy.can(user, CHANGE, CostSource())}
    template = "costs/_sources_table.html" if request.htmx else "costs/sources.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def source_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    _require(user, CHANGE, CostSource())
    form = SourceForm(request.POST or None)
    source = saved(request, form, lambda data: source_services.source_create(actor=user, **data))
    if source is not None:
        messages.success(request, f"Cost source added: {source}.")
        return redirect("costs:sources")
    return render(request, "costs/sources_form.html", {"form": form, "title": "New cost source"})


@login_required
@require_http_methods(["GET", "POST"])
def source_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a source; clearing "enabled" disables it (its figures stay; the schedule skips it)."""
    user = signed_in(request)
    source = source_selectors.source_get(user=user, pk=pk)
    policy.require(user, CHANGE, source)
    form = SourceForm(request.POST or None, instance=CostSource.objects.get(pk=source.pk))
    result = saved(request, form, lambda data: source_services.source_update(actor=user, source_id=source.pk, **data))
    if result is not None:
        messages.success(request, f"Cost source saved: {result}.")
        return redirect("costs:sources")
    return render(request, "costs/sources_form.html", {"form": form, "title": f"Edit cost source {source}"})


@login_required
@require_POST
def source_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Import now: start the source's import (or show the one under way)."""
    user = signed_in(request)
    source = source_selectors.source_get(user=user, pk=pk)
    policy.require(user, CHANGE, source)
    try:
        run = source_services.import_request(actor=user, source_id=source.pk)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if run is None:
            messages.info(request, f"{source}: both periods are final; there is nothing to import.")
        else:
            periods = ", ".join(period[:7] for period in run.params.get("periods", []))
            messages.success(request, f"{source}: import of {periods} started.")
    return redirect("costs:sources")


@login_required
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a FOCUS file (CSV or Parquet): every row is checked first; any bad row and nothing is loaded,
    the errors are listed."""
    user = signed_in(request)
    _require(user, CHANGE, CostSource())
    form = UploadForm(request.POST or None, request.FILES or None)
    errors = []
    summary = ""
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["source"]
        upload = form.cleaned_data["file"]
        try:
            result = source_services.upload_focus(
                actor=user,
                data=upload,  # read as a stream, a chunk at a time
                source_id=chosen.pk if chosen is not None else None,
                new_source=form.cleaned_data["new_source"],
                replace_bills=form.cleaned_data["replace_bills"],
                file_name=upload.name or "",
            )
        except (ValidationError, PermissionDenied) as error:
            add_service_error(form, error)
        else:
            if result.ok:
                messages.success(request, f"{result.source}: {result.text}")
                return redirect("costs:sources")
            errors = result.errors
            summary = result.summary
            form.add_error("file", summary)
    status = 400 if errors or form.errors else 200
    context = {"form": form, "errors": errors, "summary": summary, "title": "Upload a FOCUS file"}
    return render(request, "costs/upload.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def rule_list(request: HttpRequest) -> HttpResponse:
    """The attribution rules, a form to add one, and re-attribution of stored periods."""
    user = signed_in(request)
    _require(user, VIEW, AttributionRule())
    can_change = policy.can(user, CHANGE, AttributionRule())
    form = RuleForm(request.POST or None)
    if request.method == "POST":
        _require(user, CHANGE, AttributionRule())
        rule = saved(request, form, lambda data: source_services.rule_create(actor=user, **data))
        if rule is not None:
            messages.success(
                request, f"Rule added: {rule}. It applies to periods loaded (or re-attributed) from now on."
            )
            return redirect("costs:rules")
    context = {
        "rules": source_selectors.rule_list(user=user),
        "form": form,
        "reattribute_form": ReattributeForm(),
        "can_change": can_change,
    }
    return render(request, "costs/sources_rules.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    rule = source_selectors.rule_get(user=user, pk=pk)
    policy.require(user, CHANGE, rule)
    if request.method == "POST":
        source_services.rule_delete(actor=user, rule_id=rule.pk)
        messages.success(request, f"Rule deleted: {rule}.")
        return redirect("costs:rules")
    return render(
        request,
        "costs/sources_confirm.html",
        {
            "title": f"Delete the rule {rule}?",
            "question": "Stored periods keep the attribution it gave them until they are re-loaded or re-attributed.",
            "button": "Delete rule",
        },
    )


@login_required
@require_POST
def reattribute(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    _require(user, CHANGE, AttributionRule())
    form = ReattributeForm(request.POST)
    if form.is_valid():
        changed = source_services.reattribute(actor=user, since=form.cleaned_data["since"])
        messages.success(request, f"Re-attributed: {changed} line item(s) changed owner; the rollups were rebuilt.")
    else:
        messages.error(request, "Give the first month to re-attribute.")
    return redirect("costs:rules")
