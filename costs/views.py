"""The price table pages: list (filtered, htmx), add, correct and delete a price.

The price table belongs to no team, so a grant limited to a team never
covers it: the pages are for people who hold ``costs.view`` (to read) or
``costs.change`` (to edit) without a team limit, such as managers and
platform admins. Everyone else gets 403 on the list and 404 on a row.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from access import policy
from access.models import User
from access.permissions import CHANGE, VIEW
from costs import selectors, services
from costs.filtersets import PriceFilterSet
from costs.forms import PriceForm
from costs.models import PriceItem
from portal.forms import saved
from portal.http import HttpRequest

PAGE_SIZE = 100


def _signed_in(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 (login_required guarantees it)
    return user


def _require_table(user: User, action: str) -> None:
    """403 unless ``user`` may ``action`` prices, which belong to no team (asked about an unsaved row)."""
    if not policy.can(user, action, PriceItem()):
        verb = "see" if action == VIEW else "change"
        raise PermissionDenied(f"You may not {verb} the price table.")


@login_required
def price_list(request: HttpRequest) -> HttpResponse:
    user = _signed_in(request)
    _require_table(user, VIEW)
    filterset = PriceFilterSet(request.GET, queryset=selectors.price_list(user=user), request=request)
    prices = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    context = {
        "filterset": filterset,
        "page": Paginator(prices, PAGE_SIZE).get_page(request.GET.get("page")),
        "can_change": policy.can(user, CHANGE, PriceItem()),
    }
    template = "costs/_price_table.html" if request.htmx else "costs/price_list.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def price_create(request: HttpRequest) -> HttpResponse:
    """Add a price; a new row with a later start date is how a price changes from a day on."""
    user = _signed_in(request)
    _require_table(user, CHANGE)
    initial = {
        key: request.GET[key] for key in ("provider", "region_code", "kind", "size", "unit") if key in request.GET
    }
    form = PriceForm(request.POST or None, initial=initial)
    item = saved(request, form, lambda data: services.price_create(actor=user, **data))
    if item is not None:
        messages.success(request, f"Price added: {item}.")
        return redirect("costs:prices")
    return render(request, "costs/price_form.html", {"form": form, "title": "New price"})


@login_required
@require_http_methods(["GET", "POST"])
def price_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _signed_in(request)
    item = selectors.price_get(user=user, pk=pk)
    policy.require(user, CHANGE, item)
    form = PriceForm(request.POST or None, instance=PriceItem.objects.get(pk=item.pk))
    result = saved(request, form, lambda data: services.price_update(actor=user, price_id=item.pk, **data))
    if result is not None:
        messages.success(request, "Price saved.")
        return redirect("costs:prices")
    return render(request, "costs/price_form.html", {"form": form, "title": f"Edit price: {item}", "item": item})


@login_required
@require_http_methods(["GET", "POST"])
def price_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = _signed_in(request)
    item = selectors.price_get(user=user, pk=pk)
    policy.require(user, CHANGE, item)
    if request.method == "POST":
        services.price_delete(actor=user, price_id=item.pk)
        messages.success(request, f"Price deleted: {item}.")
        return redirect("costs:prices")
    return render(
        request,
        "costs/confirm.html",
        {
            "title": f"Delete price {item}?",
            "question": f"Delete the price of {item} from {item.effective_from:%d %b %Y} "
            f"({item.price} {item.currency} {item.get_unit_display()})? Estimates will use the price in force "
            "before it, or report the price as missing.",
            "button": "Delete price",
        },
    )
