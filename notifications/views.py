"""A person's notifications: the inbox, opening one (which marks it read) and marking all read.

Everyone signed in has an inbox and sees only their own; another person's
notification is a 404.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from notifications import selectors, services
from portal.http import signed_in


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Newest first, 50 a page; ``?unread=1`` shows only the unread ones."""
    unread_only = request.GET.get("unread") == "1"
    notifications = selectors.inbox(signed_in(request), unread_only=unread_only)
    page = Paginator(notifications, 50).get_page(request.GET.get("page"))
    return render(request, "notifications/inbox.html", {"page": page, "unread_only": unread_only})


@login_required
@require_GET
def open_notification(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark the notification read and go where it points (back to the inbox when it points nowhere safe)."""
    notification = get_object_or_404(selectors.inbox(signed_in(request)), pk=pk)
    services.mark_read(signed_in(request), notification.pk)
    target = notification.url
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts=None) and target.startswith("/"):
        return HttpResponseRedirect(target)
    return redirect("notifications:inbox")


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    services.mark_read(signed_in(request))
    return redirect("notifications:inbox")
