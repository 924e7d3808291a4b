"""The cost pages keep their reports cached per scope: the same answers as the reports read afresh, never another
person's figures, and a change to the rollups (or to a name they show) seen at once."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from access.models import Team, User
from costs import report_cache, reports
from costs.choices import Allocation, CostBasis, CostPeriod
from costs.models import CostRollup
from costs.report_cache import rollup_generation
from costs.store import rebuild_rollups
from portal.demo import Persona
from tests.costs.cost_world import PLATFORM, STUDENTS, load_rows, recent_bill, row

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

TODAY = date(2026, 11, 27)


def fresh(user: User) -> User:
    """The same person without the grants cached on the object, as a new request sees them."""
    return User.objects.get(pk=user.pk)


def scatter_rollups(today: date, count: int = 600) -> None:
    """Rollups spread over five months before ``today`` (and a day after it) across teams, currencies, clouds,
    services, allocations and billing months, some with no team, to compare the pages' answers on."""
    draw = random.Random(7)  # noqa: S311 - test data, not secrets
    teams = [*Team.objects.filter(slug__in=[STUDENTS, PLATFORM]), None]
    rows = []
    for _ in range(count):
        day = today - timedelta(days=draw.randint(-1, 150))
        team = draw.choice(teams)
        rows.append(
            CostRollup(
                day=day,
                billing_period_start=(day - timedelta(days=draw.choice([0, 0, 0, 20]))).replace(day=1),
                currency=draw.choice(["USD", "USD", "EUR"]),
                provider=draw.choice(["AWS", "Microsoft"]),
                region_code=draw.choice(["eu-west-1", "us-east-1", ""]),
                service_name=draw.choice(["Amazon EC2", "amazon-s3", "Virtual Machines", ""]),
                charge_category=draw.choice(["Usage", "Usage", "Credit"]),
                allocation=draw.choice(list(Allocation.values)) if team is None else Allocation.DIRECT,
                team=team,
                billed_cost=Decimal(draw.randint(-500, 20000)) / 100,
                effective_cost=Decimal(draw.randint(-500, 20000)) / 1000,
                list_cost=Decimal(draw.randint(0, 30000)) / 100,
                contracted_cost=Decimal(draw.randint(0, 30000)) / 100,
                line_items=draw.randint(1, 40),
            )
        )
    CostRollup.objects.bulk_create(rows)


def read_apart(user: User, query: reports.CostQuery) -> tuple[reports.Breakdown, list[reports.Mover]]:
    return reports.breakdown(fresh(user), query), reports.movers(reports.visible_rollups(fresh(user)), query)


@pytest.mark.parametrize("who", [Persona.MANAGER, Persona.DEVELOPER])
@pytest.mark.parametrize("basis", [CostBasis.EFFECTIVE, CostBasis.BILLED, CostBasis.LIST])
def test_the_overview_page_shows_what_its_parts_read_apart_show(
    who: Persona, basis: str, persona: Callable[[Persona], User]
) -> None:
    scatter_rollups(TODAY)
    load_rows(recent_bill(TODAY))
    user = persona(who)

    page = reports.overview_page(fresh(user), TODAY, basis)

    assert page == reports.overview(fresh(user), TODAY, basis)
    assert page.months
    assert page.trend.series
    assert page.trend.rows
    assert page.movers


@pytest.mark.parametrize("who", [Persona.MANAGER, Persona.DEVELOPER])
@pytest.mark.parametrize("by", sorted(reports.DIMENSIONS))
def test_a_breakdown_page_shows_what_its_parts_read_apart_show_by_every_dimension(
    who: Persona, by: str, persona: Callable[[Persona], User]
) -> None:
    scatter_rollups(TODAY)
    query = reports.CostQuery(start=TODAY - timedelta(days=40), end=TODAY, by=by)

    page = reports.breakdown_page(fresh(persona(who)), query)

    assert page == read_apart(persona(who), query)
    assert page[0].rows
    assert page[0].series
    assert page[0].totals


@pytest.mark.parametrize(
    ("grouping", "period", "basis"),
    [
        (reports.Grouping.DAY, CostPeriod.CHARGE, CostBasis.BILLED),
        (reports.Grouping.WEEK, CostPeriod.CHARGE, CostBasis.EFFECTIVE),
        (reports.Grouping.MONTH, CostPeriod.CHARGE, CostBasis.CONTRACTED),
        (reports.Grouping.DAY, CostPeriod.BILLING, CostBasis.EFFECTIVE),
    ],
)
def test_a_breakdown_page_shows_what_its_parts_read_apart_show_by_week_month_and_billing_period(
    grouping: str, period: str, basis: str, persona: Callable[[Persona], User]
) -> None:
    scatter_rollups(TODAY)
    query = reports.CostQuery(
        start=date(2026, 9, 14), end=TODAY, by="service_name", grouping=grouping, basis=basis, period=period
    )
    drilled = query.drilled("team", reports.NONE)

    for asked in (query, drilled):
        page = reports.breakdown_page(fresh(persona(Persona.MANAGER)), asked)
        assert page == read_apart(persona(Persona.MANAGER), asked)
        assert page[0].series
        assert page[1]


def test_a_page_is_read_once_and_then_comes_from_the_cache(
    persona: Callable[[Persona], User], django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    scatter_rollups(TODAY)
    manager = persona(Persona.MANAGER)
    query = reports.CostQuery(start=TODAY - timedelta(days=29), end=TODAY, by="team")

    asking = [fresh(manager) for _ in range(4)]  # four requests, each reading the grants afresh
    with django_assert_num_queries(6):  # the grants, the rollups' generation, totals, rows, series, movers
        first = reports.breakdown_page(asking[0], query)
    with django_assert_num_queries(2):  # the grants, the rollups' generation
        again = reports.breakdown_page(asking[1], query)
    with django_assert_num_queries(7):  # the grants, the generation, month spend, trend rows and series, movers,
        reports.overview_page(asking[2], TODAY)  # unallocated
    with django_assert_num_queries(2):
        reports.overview_page(asking[3], TODAY)

    assert again == first


def test_people_with_different_scopes_never_get_each_others_figures_from_the_cache(
    persona: Callable[[Persona], User],
) -> None:
    load_rows(recent_bill(TODAY))
    query = reports.CostQuery(start=date(2026, 11, 1), end=TODAY, by="team")
    manager, developer = persona(Persona.MANAGER), persona(Persona.DEVELOPER)

    managers = reports.breakdown_page(fresh(manager), query)[0]
    developers = reports.breakdown_page(fresh(developer), query)[0]
    developers_overview = reports.overview_page(fresh(developer), TODAY)
    managers_overview = reports.overview_page(fresh(manager), TODAY)

    assert {row.key for row in managers.rows} == {STUDENTS, PLATFORM, reports.NONE}
    assert [row.key for row in developers.rows] == [STUDENTS]  # the demo developer's team only
    assert developers.totals[0].amount == Decimal(12 * 27)
    assert managers.totals[0].amount == Decimal(18 * 27)
    assert developers_overview.months[0].this_month == Decimal(12 * 27)
    assert managers_overview.months[0].this_month == Decimal(18 * 27)
    assert developers_overview == reports.overview(fresh(developer), TODAY)
    assert managers_overview == reports.overview(fresh(manager), TODAY)


def test_a_grant_taken_away_is_honoured_at_once_by_the_cached_pages(persona: Callable[[Persona], User]) -> None:
    load_rows(recent_bill(TODAY))
    developer = persona(Persona.DEVELOPER)
    query = reports.CostQuery(start=date(2026, 11, 1), end=TODAY, by="team")
    assert reports.breakdown_page(fresh(developer), query)[0].rows

    developer.memberships.all().delete()
    developer.grants.all().delete()

    assert reports.breakdown_page(fresh(developer), query)[0].rows == []


def test_a_new_import_changes_what_the_pages_show_at_once(persona: Callable[[Persona], User]) -> None:
    load_rows(recent_bill(TODAY))
    manager = persona(Persona.MANAGER)
    query = reports.CostQuery(start=date(2026, 11, 1), end=TODAY, by="team")
    before = reports.breakdown_page(fresh(manager), query)[0].totals[0].amount
    assert reports.overview_page(fresh(manager), TODAY).months[0].this_month == before

    load_rows([row(date(2026, 11, 3), "1000.00", team=PLATFORM, BillingAccountId="another-bill")], "another")

    assert reports.breakdown_page(fresh(manager), query)[0].totals[0].amount == before + 1000
    assert reports.overview_page(fresh(manager), TODAY).months[0].this_month == before + 1000


def test_every_way_of_writing_rollups_moves_their_generation(persona: Callable[[Persona], User]) -> None:
    seen = [rollup_generation()]

    def moved() -> bool:
        seen.append(rollup_generation())
        return seen[-1] > seen[-2]

    load_rows(recent_bill(TODAY))  # an import
    assert moved()
    rebuild_rollups(date(2026, 11, 1), date(2026, 11, 3))  # reattribution and allocation rebuild days
    assert moved()
    scatter_rollups(TODAY, count=3)
    assert moved()
    CostRollup.objects.filter(day=date(2026, 11, 4)).update(line_items=1)
    assert moved()
    CostRollup.objects.filter(day=date(2026, 11, 4)).delete()
    assert moved()
    Team.objects.filter(slug=PLATFORM).update(name="Platform engineering")  # a name the reports show
    assert moved()
    Team.objects.filter(slug=PLATFORM).update(slug="platform-renamed")  # a change they do not show
    assert not moved()
    reports.overview_page(fresh(persona(Persona.MANAGER)), TODAY)
    assert not moved()  # reading changes nothing


def test_a_renamed_team_is_shown_by_its_new_name_at_once(persona: Callable[[Persona], User]) -> None:
    load_rows(recent_bill(TODAY))
    manager = persona(Persona.MANAGER)
    query = reports.CostQuery(start=date(2026, 11, 1), end=TODAY, by="team")
    before = {row.key: row.label for row in reports.breakdown_page(fresh(manager), query)[0].rows}

    team = Team.objects.get(slug=PLATFORM)
    team.name = "Platform engineering"
    team.save()

    after = {row.key: row.label for row in reports.breakdown_page(fresh(manager), query)[0].rows}
    assert before[PLATFORM] != "Platform engineering"
    assert after[PLATFORM] == "Platform engineering"


def test_an_import_moves_the_generation_again_once_it_has_committed(
    demo: None, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    """The trigger moves the generation before the import commits, so a report read in between would be kept
    under the new number with the old figures: once committed, the import moves it again."""
    with django_capture_on_commit_callbacks() as committed:
        rebuild_rollups(date(2026, 11, 1), date(2026, 11, 2))
    written = rollup_generation()

    for callback in committed:
        callback()

    assert rollup_generation() > written


def test_the_pages_show_each_person_their_own_figures_through_the_cache(
    client_for: Callable[[Persona | None], Client],
) -> None:
    today = timezone.localdate()
    load_rows([row(today - timedelta(days=1), "4242.00", team=PLATFORM, BillingAccountId="bench-bill")], "other")
    manager, developer = client_for(Persona.MANAGER), client_for(Persona.DEVELOPER)

    for _ in range(2):  # the second time from the cache
        for path in ("/costs/", "/costs/breakdown/?by=team"):
            assert "4,242.00" in manager.get(path).content.decode()
            assert "4,242.00" not in developer.get(path).content.decode()
        api = developer.get("/api/costs/breakdown/", {"by": "team"}).json()
        assert PLATFORM not in {entry["key"] for entry in api["rows"]}
        managers = manager.get("/api/costs/breakdown/", {"by": "team"}).json()
        assert PLATFORM in {entry["key"] for entry in managers["rows"]}


def test_entries_a_release_with_differently_shaped_reports_kept_are_never_read(
    persona: Callable[[Persona], User],
    django_assert_num_queries: DjangoAssertNumQueries,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unpickling another release's report objects would fail or mislead: the shape is part of the key."""
    scatter_rollups(TODAY, count=50)
    query = reports.CostQuery(start=TODAY - timedelta(days=29), end=TODAY, by="team")
    reports.breakdown_page(fresh(persona(Persona.MANAGER)), query)

    @dataclass(frozen=True)
    class Mover:  # the same name, another field
        key: str
        weight: int

    monkeypatch.setattr(reports, "PAGE_SHAPE", report_cache.shape_of(reports.Breakdown, Mover))

    manager = fresh(persona(Persona.MANAGER))
    with django_assert_num_queries(6):  # the grants, the generation and the four reads: not from the cache
        reports.breakdown_page(manager, query)
    assert report_cache.shape_of(reports.Mover) != report_cache.shape_of(Mover)
