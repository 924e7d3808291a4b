"""The search page: what a person may see, found by name across kinds (see :mod:`search.selectors`)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.http import signed_in
from search import selectors
from search.query import MAX_LENGTH, MIN_LENGTH, read_query


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Results grouped by kind; an empty search explains what can be searched, a short one asks for more."""
    user = signed_in(request)
    query = read_query(request.GET.get("q"))
    results = selectors.search(user=user, text=query.text) if query.searchable else None
    context = {
        "query": query,
        "results": results,
        "min_length": MIN_LENGTH,
        "max_length": MAX_LENGTH,
        # The header's search box shows what was searched.
        "site_search_text": query.text,
    }
    return render(request, "search/results.html", context)
