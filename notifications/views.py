"""A person's notifications: the inbox, a notification's page, opening one and marking it read.

Everyone signed in has an inbox and sees only their own; another person's
notification is a 404. Looking changes nothing: a GET of a notification
shows it, and only a POST (opening it from the inbox or its page, or "Mark
read") marks it read, so a link, an image or a prefetch pointing at its
address cannot.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from notifications import selectors, services
from notifications.models import Notification
from portal.http import HttpRequest, signed_in


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Newest first, 50 a page; ``?unread=1`` shows only the unread ones."""
    unread_only = request.GET.get("unread") == "1"
    notifications = selectors.inbox(signed_in(request), unread_only=unread_only)
    page = Paginator(notifications, 50).get_page(request.GET.get("page"))
    return render(request, "notifications/inbox.html", {"page": page, "unread_only": unread_only})


def _own(request: HttpRequest, pk: int) -> Notification:
    return get_object_or_404(selectors.inbox(signed_in(request)), pk=pk)


def target_of(notification: Notification) -> str:
    """Where the notification points, if that is a path inside the portal; "" otherwise."""
    target = notification.url
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts=None) and target.startswith("/"):
        return target
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def open_notification(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the notification's page, changing nothing. POST: mark it read and go where it points."""
    notification = _own(request, pk)
    if request.method == "GET":
        context = {"notification": notification, "target": target_of(notification)}
        return render(request, "notifications/notification.html", context)
    services.mark_read(signed_in(request), notification.pk)
    target = target_of(notification)
    return HttpResponseRedirect(target) if target else redirect("notifications:inbox")


@login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read where it is: htmx gets its row again (and the bell), a form the inbox."""
    notification = _own(request, pk)
    services.mark_read(signed_in(request), notification.pk)
    if request.htmx:
        notification.refresh_from_db()
        return render(request, "notifications/_read.html", {"notification": notification})
    return redirect("notifications:inbox")


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    services.mark_read(signed_in(request))
    return redirect("notifications:inbox")
