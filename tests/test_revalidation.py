"""Clients revalidate what they already have: every whole GET answer carries an ETag, and asking again with it
(If-None-Match) gets 304 Not Modified and no body until the answer changes. A cost export's tag is known from
the rollups' generation, so revalidating one reads no figures at all."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from environments.models import Environment
from portal.demo import Persona
from tests.costs.cost_world import PLATFORM, load_rows, row

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize("path", ["/api/environments/", "/api/deployments/", "/api/regions/", "/api/services/"])
def test_an_api_list_answers_304_to_a_client_that_has_it_and_200_once_it_changed(
    path: str, client_for: Callable[[Persona | None], Client]
) -> None:
    manager = client_for(Persona.PLATFORM_ADMIN)
    first = manager.get(path)
    assert first.status_code == 200
    tag = first["ETag"]

    again = manager.get(path, headers={"If-None-Match": tag})

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == tag
    if path == "/api/environments/":
        environment = Environment.objects.order_by("-created_at", "-pk").first()
        assert environment is not None
        Environment.objects.filter(pk=environment.pk).update(name="renamed-for-the-test")
        changed = manager.get(path, headers={"If-None-Match": tag})
        assert changed.status_code == 200
        assert changed["ETag"] != tag
        assert "renamed-for-the-test" in changed.content.decode()


def test_an_unchanged_cost_export_is_revalidated_without_reading_a_figure_and_a_new_import_changes_it(
    client_for: Callable[[Persona | None], Client],
) -> None:
    yesterday = timezone.localdate() - timedelta(days=1)
    load_rows([row(yesterday, "12.00", team=PLATFORM, BillingAccountId="revalidation")], "revalidation")
    manager = client_for(Persona.MANAGER)
    path = "/costs/breakdown/export/?by=team&rows=totals"
    first = manager.get(path)
    assert first.status_code == 200
    body = b"".join(first.streaming_content)  # type: ignore[attr-defined]
    assert b"12.00" in body
    tag = first["ETag"]

    with CaptureQueriesContext(connection) as queries:
        again = manager.get(path, headers={"If-None-Match": tag})

    assert again.status_code == 304
    assert not any("costs_costrollup" in query["sql"] for query in queries)
    assert not any("access_auditevent" in query["sql"] and "INSERT" in query["sql"] for query in queries)

    load_rows([row(yesterday, "30.00", team=PLATFORM, BillingAccountId="revalidation-2")], "revalidation-2")
    changed = manager.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed["ETag"] != tag
    assert b"42.00" in b"".join(changed.streaming_content)  # type: ignore[attr-defined]
