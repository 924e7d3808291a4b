"""The environment list and the deployments API with years of history: their first page against a bare page
behind the same middleware (``BENCH_LIST_ENVIRONMENTS`` environments, default 5,000, 300 at smoke size;
``BENCH_LIST_DEPLOYMENTS`` deployments, default 8,000, 400 at smoke size).

Baseline: a bare view behind the portal's middleware, signed in (bench/bare.py). Measured: ``/environments/``
and ``/api/deployments/`` as the platform admin (sees every row) and as a developer (a team's and the shared
rows), 50 a page, newest first, and the same with a common filter. Each row also prints how PostgreSQL reads
the first page (an index in the list's order, or a sort of every row) and the queries the request ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext

from access.models import User
from bench.bare import BARE_URL
from bench.report import best_of, report, timed
from bench.sizes import size
from deployments import selectors as deployment_selectors
from environments import selectors as environment_selectors
from portal.demo import Persona
from tests.history import build_deployments, build_environments

ENVIRONMENTS = size("BENCH_LIST_ENVIRONMENTS", full=5000, smoke=300)
DEPLOYMENTS = size("BENCH_LIST_DEPLOYMENTS", full=8000, smoke=400)
RUNS = 5


def first_page_plan(queryset: QuerySet[Any]) -> str:
    """How PostgreSQL reads a list's first page: the index it walks in order, or "sort"."""
    plan = queryset[:50].explain()
    if "Sort" in plan and "Incremental Sort" not in plan:
        return "sorts every row"
    used = [line.split(" using ")[1].split(" ")[0] for line in plan.splitlines() if " using " in line]
    return f"walks {used[0]}" if used else "?"


@pytest.mark.django_db
@pytest.mark.urls("bench.bare")
def bench_list_pages_with_years_of_history(
    client_for: Callable[[Persona | None], Client], persona: Callable[[Persona], User]
) -> None:
    build_environments(ENVIRONMENTS)
    build_deployments(DEPLOYMENTS)
    clients = {which: client_for(which) for which in (Persona.PLATFORM_ADMIN, Persona.DEVELOPER)}

    def get(which: Persona, url: str, query: dict[str, str] | None = None) -> Callable[[], float]:
        def measure() -> float:
            with timed() as watch:
                response = clients[which].get(url, query or {})
            assert response.status_code == 200
            return watch.seconds

        return measure

    bare = best_of(RUNS, get(Persona.DEVELOPER, BARE_URL))
    rows = [("bare page, same middleware", f"{1000 * bare:.1f} ms")]
    cases: list[tuple[str, Persona, dict[str, str] | None, Callable[..., QuerySet[Any]]]] = [
        ("/environments/", Persona.PLATFORM_ADMIN, None, environment_selectors.environment_list),
        ("/environments/", Persona.DEVELOPER, None, environment_selectors.environment_list),
        ("/environments/", Persona.PLATFORM_ADMIN, {"status": "ready"}, environment_selectors.environment_list),
        ("/api/deployments/", Persona.PLATFORM_ADMIN, None, deployment_selectors.deployment_list),
        ("/api/deployments/", Persona.DEVELOPER, None, deployment_selectors.deployment_list),
        ("/api/deployments/", Persona.PLATFORM_ADMIN, {"status": "failed"}, deployment_selectors.deployment_list),
    ]
    for url, which, query, selector in cases:
        measure = get(which, url, query)
        measure()  # warm the templates and the user's rules
        seconds = best_of(RUNS, measure)
        with CaptureQueriesContext(connection) as captured:
            measure()
        queryset: QuerySet[Any] = selector(user=persona(which))
        if query:
            queryset = queryset.filter(**query)
        label = f"{url}{'?' + '&'.join(f'{k}={v}' for k, v in query.items()) if query else ''} as {which.value}"
        rows.append(
            (
                label,
                f"{1000 * seconds:.1f} ms ({seconds / bare:.1f}x the bare page), "
                f"{len(captured.captured_queries)} queries, first page {first_page_plan(queryset)}",
            )
        )
    report(f"lists, {ENVIRONMENTS} environments and {DEPLOYMENTS} deployments", rows)
