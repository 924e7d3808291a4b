"""A bare page for benchmarks to measure against: the portal's whole middleware stack, a signed-in user, and a
view that does nothing. A benchmark that marks itself ``@pytest.mark.urls("bench.bare")`` reaches it at
``/bench/bare/`` beside every page of the portal, so a page's time reads as a multiple of what any page costs.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.urls import handler400, handler403, handler404, handler500
from portal.urls import urlpatterns as portal_urlpatterns

BARE_URL = "/bench/bare/"


@login_required
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


__all__ = ["BARE_URL", "handler400", "handler403", "handler404", "handler500", "urlpatterns"]

urlpatterns = [path(BARE_URL.strip("/") + "/", bare), *portal_urlpatterns]
