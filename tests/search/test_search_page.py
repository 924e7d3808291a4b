"""The search page: what it finds of each kind, in which order, for whom, and what it does with odd input."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access.models import Membership, Team, User
from deployments.choices import DeploymentSource, DeploymentStatus
from deployments.models import Deployment, Service
from environments.choices import EnvironmentStatus
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona
from regions.models import Cluster, Region
from search.query import MAX_LENGTH
from tests.factories import make_service
from tests.helpers import queries_for

# Every test here reads the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

ClientFor = Callable[[Persona | None], Client]
SEARCH = reverse("search")


@pytest.fixture
def developer(client_for: ClientFor) -> Client:
    return client_for(Persona.DEVELOPER)


@pytest.fixture
def admin(client_for: ClientFor) -> Client:
    return client_for(Persona.PLATFORM_ADMIN)


def make_environment(name: str, *, team: str = "student-experience", cluster: str = "eks-eu-west-1") -> Environment:
    return Environment.objects.create(
        name=name,
        team=Team.objects.get(slug=team),
        template=EnvironmentTemplate.objects.get(slug="preview"),
        tier="development",
        cluster=Cluster.objects.get(name=cluster),
        requested_by=User.objects.get(username="developer"),
        status=EnvironmentStatus.READY,
        monthly_estimate="12.50",
        currency="USD",
    )


def make_deployment(service: Service, version: str, *, days_ago: int = 1) -> Deployment:
    return Deployment.objects.create(
        service=service,
        team=service.team,
        tier="production",
        cluster=Cluster.objects.get(name="eks-eu-west-1"),
        namespace="student-services",
        version=version,
        source=DeploymentSource.PIPELINE,
        status=DeploymentStatus.SUCCEEDED,
        started_at=timezone.now() - timedelta(days=days_ago),
    )


class Results(HTMLParser):
    """What a person sees on the results page: each group's heading, count, and the results' titles and links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.groups: dict[str, list[tuple[str, str]]] = {}
        self.counts: dict[str, int] = {}
        self.h1 = 0
        self.h2: list[str] = []
        self._group = ""
        self._in: set[str] = set()
        self._heading = self._count = self._title = self._link = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h1":
            self.h1 += 1
        elif tag == "section" and found.get("data-search-group"):
            self._group = found["data-search-group"] or ""
            self.groups[self._group] = []
        elif tag == "h2":
            self._in.add("h2")
            self._heading = ""
        elif tag == "span" and "data-search-count" in found:
            self._in.add("count")
            self._count = ""
        elif tag == "li" and "data-search-hit" in found:
            self._in.add("hit")
            self._title = self._link = ""
        elif tag == "a" and "hit" in self._in:
            self._link = found.get("href") or ""
        elif tag == "div" and "hit" in self._in:
            self.groups[self._group].append((self._title.strip(), self._link))
            self._in.discard("hit")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and "h2" in self._in:
            self.h2.append(self._heading.strip())
            self._in.discard("h2")
        elif tag == "span" and "count" in self._in:
            self.counts[self._group] = int(self._count.split()[0])
            self._in.discard("count")

    def handle_data(self, data: str) -> None:
        if "count" in self._in:
            self._count += data
        elif "h2" in self._in:
            self._heading += data
        if "hit" in self._in:
            self._title += data

    def titles(self, kind: str) -> list[str]:
        return [title for title, _ in self.groups.get(kind, [])]

    def link(self, kind: str, title: str) -> str:
        return next(link for found, link in self.groups[kind] if found == title)


def search(client: Client, text: str) -> Results:
    response = client.get(SEARCH, {"q": text})
    assert response.status_code == 200
    return Results(response.content.decode())


# --- what it finds ---------------------------------------------------------------------------------------------


def test_it_finds_a_service_by_part_of_its_name_and_links_to_its_page(developer: Client) -> None:
    found = search(developer, "stud")

    assert "Student portal" in found.titles("services")
    assert found.link("services", "Student portal") == reverse("deployments:service", args=["student-portal"])


def test_it_finds_a_service_by_a_close_spelling(developer: Client) -> None:
    make_service(slug="checkout", name="Checkout", team=Team.objects.get(slug="student-experience"))

    assert search(developer, "chekout").titles("services") == ["Checkout"]


def test_it_finds_an_environment_by_name_with_its_team_cluster_and_status(developer: Client) -> None:
    environment = make_environment("lessons-preview")

    page = developer.get(SEARCH, {"q": "lessons-prev"}).content.decode()
    found = Results(page)

    assert found.titles("environments") == ["lessons-preview"]
    assert found.link("environments", "lessons-preview") == reverse("environments:detail", args=[environment.pk])
    assert "Student Experience · eks-eu-west-1 · Ready" in page


def test_it_finds_a_cluster_by_name(developer: Client) -> None:
    found = search(developer, "eks-eu-west")

    assert found.titles("clusters")[0] == "eks-eu-west-1"
    assert found.link("clusters", "eks-eu-west-1") == reverse(
        "regions:cluster", args=["aws", "eu-west-1", "eks-eu-west-1"]
    )


@pytest.mark.parametrize("text", ["eu-west-1", "Ireland", "europe (irel"])
def test_it_finds_a_region_by_code_and_by_display_name(developer: Client, text: str) -> None:
    found = search(developer, text)

    assert found.titles("regions")[0] == "Europe (Ireland) (eu-west-1)"
    assert found.link("regions", "Europe (Ireland) (eu-west-1)") == reverse("regions:detail", args=["aws", "eu-west-1"])


def test_it_finds_a_team_by_name_and_by_slug(developer: Client) -> None:
    team = Team.objects.get(slug="tutor-tools")

    assert search(developer, "Tutor").titles("teams") == ["Tutor Tools"]
    assert search(developer, "tutor-to").link("teams", "Tutor Tools") == reverse("access:team", args=[team.pk])


@pytest.mark.parametrize("text", ["Patel", "dev pat", "develop"])
def test_it_finds_a_person_by_name_or_username_and_links_to_them_on_their_teams_page(
    developer: Client, text: str
) -> None:
    team = Team.objects.get(slug="student-experience")

    found = search(developer, text)

    assert found.titles("people")[0] == "Dev Patel"
    assert found.link("people", "Dev Patel") == f"{reverse('access:team', args=[team.pk])}#member-developer"
    page = developer.get(found.link("people", "Dev Patel")).content.decode()
    assert 'id="member-developer"' in page


def test_a_person_in_no_team_is_listed_without_a_link(developer: Client) -> None:
    User.objects.create(username="solo-searcher", first_name="Sol", last_name="Oner")

    page = developer.get(SEARCH, {"q": "solo-searcher"}).content.decode()

    assert Results(page).groups["people"] == [("Sol Oner", "")]
    assert "solo-searcher · in no team" in page


def test_it_finds_deployments_by_version_prefix_and_not_other_versions(admin: Client) -> None:
    found = search(admin, "4.6")

    titles = found.titles("deployments")
    assert titles, "the demo deploys Student portal 4.6.0"
    assert all(re.fullmatch(r".* v?4\.6.*", title) for title in titles), titles
    assert "Student portal 4.6.0" in titles
    assert not any("4.7.0" in title or "1.4.6" in title for title in titles)


def test_a_deployment_links_to_its_page_and_tells_where_and_when(developer: Client) -> None:
    service = Service.objects.get(slug="student-portal")
    deployment = make_deployment(service, "9.8.7", days_ago=3)

    page = developer.get(SEARCH, {"q": "9.8"}).content.decode()

    assert Results(page).groups["deployments"] == [
        ("Student portal 9.8.7", reverse("deployments:detail", args=[deployment.pk]))
    ]
    assert "eks-eu-west-1/student-services · Succeeded" in page
    assert "3\xa0days ago" in page


# --- ranking ---------------------------------------------------------------------------------------------------


def test_the_exact_name_comes_first_then_names_that_start_with_it_then_the_rest(developer: Client) -> None:
    team = Team.objects.get(slug="student-experience")
    for slug, name in [
        ("old-checkout", "Old checkout"),
        ("checkout-worker", "Checkout worker"),
        ("checkout", "Checkout"),
    ]:
        make_service(slug=slug, name=name, team=team)

    assert search(developer, "checkout").titles("services") == ["Checkout", "Checkout worker", "Old checkout"]


def test_the_exact_version_comes_first_then_the_newest(developer: Client) -> None:
    service = Service.objects.get(slug="student-portal")
    make_deployment(service, "8.1.0", days_ago=5)
    make_deployment(service, "8.1.1", days_ago=1)
    make_deployment(service, "8.1", days_ago=9)

    assert search(developer, "8.1").titles("deployments") == [
        "Student portal 8.1",
        "Student portal 8.1.1",
        "Student portal 8.1.0",
    ]


def test_at_most_ten_of_a_kind_are_shown_with_a_link_to_the_rest(developer: Client) -> None:
    for number in range(13):
        make_environment(f"bulk-{number:02}")

    page = developer.get(SEARCH, {"q": "bulk"}).content.decode()
    found = Results(page)

    assert len(found.titles("environments")) == 10
    assert found.counts["environments"] == 13
    assert f'href="{reverse("environments:list")}?q=bulk"' in page
    assert "3 more: the environments list filtered by “bulk”" in page


def test_a_kind_without_a_filtered_list_tells_how_many_more(admin: Client) -> None:
    service = Service.objects.get(slug="student-portal")
    for number in range(12):
        make_deployment(service, f"7.7.{number}")

    page = admin.get(SEARCH, {"q": "7.7"}).content.decode()

    assert Results(page).counts["deployments"] == 12
    assert "and 2 more; add to your search to narrow it down." in page


# --- who finds what ------------------------------------------------------------------------------------------


def test_a_developer_finds_their_teams_environment_but_not_another_teams_which_an_admin_finds(
    developer: Client, admin: Client
) -> None:
    make_environment("scoped-ours")
    make_environment("scoped-theirs", team="tutor-tools", cluster="eks-ap-southeast-2")

    assert search(developer, "scoped").titles("environments") == ["scoped-ours"]
    assert sorted(search(admin, "scoped").titles("environments")) == ["scoped-ours", "scoped-theirs"]
    # As the list page shows them.
    listed = developer.get(reverse("environments:list"), {"q": "scoped"}).content.decode()
    assert "scoped-ours" in listed
    assert "scoped-theirs" not in listed


def test_a_developer_finds_only_their_teams_services_and_deployments(developer: Client, admin: Client) -> None:
    assert search(developer, "Identity").titles("services") == []
    assert search(admin, "Identity").titles("services") == ["Identity"]
    # Identity (Core Platform) runs 3.2.1, which the developer may not see; the admin may.
    assert search(developer, "3.2.1").titles("deployments") == []
    assert search(admin, "3.2.1").titles("deployments")


def test_the_auditor_who_sees_no_environments_finds_none(client_for: ClientFor) -> None:
    make_environment("audited-env")

    found = search(client_for(Persona.AUDITOR), "audited-env")

    assert "environments" not in found.groups


# --- bounds and odd input --------------------------------------------------------------------------------------


def test_an_empty_search_explains_what_can_be_searched(developer: Client) -> None:
    page = developer.get(SEARCH).content.decode()

    assert "data-search-help" in page
    for kind in ("services", "environments", "deployments", "clusters", "regions", "teams", "people"):
        assert f"<strong>{kind}</strong>" in page
    assert "data-search-group" not in page


def test_a_one_character_search_asks_for_more_and_runs_no_search(developer: Client) -> None:
    with CaptureQueriesContext(connection) as captured:
        response = developer.get(SEARCH, {"q": " x "})

    page = response.content.decode()
    assert "Type at least 2 characters to search." in page
    assert "data-search-group" not in page
    assert not [query for query in captured.captured_queries if "WORD_SIMILARITY" in query["sql"]]


def test_a_search_of_the_longest_length_runs_and_one_longer_is_refused_with_a_message(developer: Client) -> None:
    longest = "s" * MAX_LENGTH
    assert developer.get(SEARCH, {"q": longest}).status_code == 200
    assert "data-search-problem" not in developer.get(SEARCH, {"q": longest}).content.decode()

    response = developer.get(SEARCH, {"q": "s" * (MAX_LENGTH + 1)})

    assert response.status_code == 200
    page = response.content.decode()
    assert "A search is at most 100 characters; this one has 101. Shorten it and search again." in page
    assert "data-search-group" not in page


@pytest.mark.parametrize("text", ["a\x00b", "\x00\x00", "stud\x07"])
def test_control_characters_are_refused_with_a_message_before_postgresql_sees_them(
    developer: Client, text: str
) -> None:
    response = developer.get(SEARCH, {"q": text})

    assert response.status_code == 200
    page = response.content.decode()
    assert "A search cannot contain control characters such as a null byte" in page
    assert "\x00" not in page


@pytest.mark.parametrize("text", ["%%", "__", "''", "'; drop table access_team; --", "\\\\", "%_\\'\"<>", "😀😀"])
def test_odd_text_is_searched_as_it_is(developer: Client, text: str) -> None:
    response = developer.get(SEARCH, {"q": text})

    assert response.status_code == 200
    # LIKE's wildcards match themselves: no name holds these, so nothing matches.
    assert "data-search-group" not in response.content.decode()
    assert Team.objects.filter(slug="student-experience").exists()


def test_a_name_with_wildcard_characters_is_found_by_them(admin: Client) -> None:
    Team.objects.create(slug="percent-team", name="100% uptime_club")

    assert search(admin, "0% up").titles("teams") == ["100% uptime_club"]
    assert search(admin, "e_c").titles("teams") == ["100% uptime_club"]


def test_spaces_are_stripped_and_runs_of_them_are_one(developer: Client) -> None:
    found = search(developer, "   student \t  portal  ")

    assert found.titles("services")[0] == "Student portal"


# --- the page and the box ---------------------------------------------------------------------------------------


def test_every_signed_in_page_has_a_labelled_search_box_that_submits_to_the_search_page(developer: Client) -> None:
    for url in ["/", reverse("environments:list"), reverse("regions:list")]:
        page = developer.get(url).content.decode()
        box = re.search(r"<input[^>]*id=\"site-search-text\"[^>]*>", page)
        assert box is not None, url
        assert 'type="search"' in box.group(0)
        assert 'name="q"' in box.group(0)
        assert f'maxlength="{MAX_LENGTH}"' in box.group(0)
        assert '<label class="visually-hidden" for="site-search-text">' in page
        assert f'action="{SEARCH}"' in page
        assert '<script src="/static/portal/search.js" defer></script>' in page


def test_the_sign_in_page_has_no_search_box(client_for: ClientFor) -> None:
    page = client_for(None).get(reverse("account_login")).content.decode()

    assert "site-search-text" not in page


def test_the_results_page_has_one_h1_a_heading_per_kind_and_shows_what_was_searched(admin: Client) -> None:
    response = admin.get(SEARCH, {"q": "eu"})
    page = response.content.decode()
    found = Results(page)

    assert found.h1 == 1
    assert set(found.groups) >= {"clusters", "regions"}
    assert found.h2 == [kind.capitalize() for kind in found.groups]
    assert re.search(r'id="site-search-text" value="eu"', page)


def test_anonymous_visitors_are_sent_to_sign_in(client_for: ClientFor) -> None:
    response = client_for(None).get(SEARCH, {"q": "stud"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- a bounded number of queries -------------------------------------------------------------------------------


def test_the_page_runs_the_same_queries_however_many_rows_match(
    admin: Client, django_assert_max_num_queries: Callable[..., object]
) -> None:
    def add(number: int) -> None:
        team = Team.objects.create(slug=f"zz9-team-{number}", name=f"zz9 team {number}")
        service = make_service(slug=f"zz9-service-{number}", name=f"zz9 service {number}", team=team)
        make_deployment(service, f"zz9.{number}.0")
        make_environment(f"zz9-env-{number}", team="core-platform")
        cluster = Cluster.objects.get(name="eks-eu-west-1")
        Cluster.objects.create(
            region=cluster.region,
            name=f"zz9-cluster-{number}",
            kind=cluster.kind,
            kubernetes_version="1.31",
            api_endpoint=f"https://zz9-{number}.example.com",
        )
        Region.objects.create(provider="aws", code=f"zz9-{number}", display_name=f"zz9 {number}", residency_zone="EU")
        person = User.objects.create(username=f"zz9-person-{number}", first_name="Zed", last_name=f"Nine {number}")
        Membership.objects.create(team=team, user=person)

    add(0)
    queries_for(admin, SEARCH, {"q": "zz9"})
    few = queries_for(admin, SEARCH, {"q": "zz9"})
    for number in range(1, 16):
        add(number)

    assert queries_for(admin, SEARCH, {"q": "zz9"}) == few
    with django_assert_max_num_queries(12):  # type: ignore[attr-defined]
        page = admin.get(SEARCH, {"q": "zz9"}).content.decode()
    found = Results(page)
    assert found.counts == dict.fromkeys(
        ["services", "environments", "deployments", "clusters", "regions", "teams", "people"], 16
    )
