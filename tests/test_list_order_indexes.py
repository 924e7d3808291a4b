"""The environment list and the deployment list (page and API) read their first page from an index in their
order: with thousands of rows PostgreSQL walks it and stops after a page, rather than sorting every row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import models
from django.db.models import QuerySet

from access.models import User
from deployments import selectors as deployment_selectors
from deployments.models import Deployment
from environments import selectors as environment_selectors
from environments.models import Environment
from portal.demo import Persona
from tests.history import build_deployments, build_environments

ROWS = 3000
PAGE = 50


def index_fields(model: type[models.Model], name: str) -> list[str]:
    index: models.Index = next(index for index in model._meta.indexes if index.name == name)
    return list(index.fields)


def spelt(model: type[models.Model], terms: Any) -> list[str]:
    """Order terms by field name, "-" for descending, with "pk" spelt as the field it is."""
    pk = model._meta.pk
    assert pk is not None
    return [str(term).replace("pk", pk.name) for term in terms]


def order_of(queryset: QuerySet[Any]) -> list[str]:
    return spelt(queryset.model, queryset.query.order_by)


def first_page_plan(queryset: QuerySet[Any]) -> str:
    return queryset[:PAGE].explain()


def reads_in_order_without_sorting(plan: str, index: str) -> bool:
    sorts = [line for line in plan.splitlines() if "Sort" in line and "Incremental Sort" not in line]
    return f"Index Scan using {index}" in plan and not sorts


@pytest.mark.parametrize(
    ("selector", "model", "index"),
    [
        (environment_selectors.environment_list, Environment, "environment_newest"),
        (deployment_selectors.deployment_list, Deployment, "deployment_newest"),
    ],
)
def test_each_lists_order_is_an_index(
    selector: Callable[..., QuerySet[Any]], model: type[models.Model], index: str
) -> None:
    queryset = selector(user=User(is_superuser=True, is_active=True))

    assert index_fields(model, index) == order_of(queryset)
    assert order_of(queryset) == spelt(model, model._meta.ordering)


@pytest.mark.django_db
@pytest.mark.parametrize("which", [Persona.PLATFORM_ADMIN, Persona.DEVELOPER])
def test_the_environment_lists_first_page_walks_its_index(which: Persona, persona: Callable[[Persona], User]) -> None:
    build_environments(ROWS)

    plan = first_page_plan(environment_selectors.environment_list(user=persona(which)))

    assert reads_in_order_without_sorting(plan, "environment_newest"), plan


@pytest.mark.django_db
@pytest.mark.parametrize("which", [Persona.PLATFORM_ADMIN, Persona.DEVELOPER])
def test_the_deployment_lists_first_page_walks_its_index(which: Persona, persona: Callable[[Persona], User]) -> None:
    build_deployments(ROWS)

    plan = first_page_plan(deployment_selectors.deployment_list(user=persona(which)))

    assert reads_in_order_without_sorting(plan, "deployment_newest"), plan
