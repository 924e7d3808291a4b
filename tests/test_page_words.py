"""What the pages say in their pickers and filters: people by name, and empty choices in words."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from access.models import Team
from portal.demo import Persona

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

# Every page with a form or a filter a platform admin opens (the ones taking an object use the demo's).
FORM_PAGES = [
    "/",
    "/environments/",
    "/environments/new/",
    "/environments/templates/",
    "/environments/templates/new/",
    "/environments/team-limits/student-experience/",
    "/deployments/",
    "/deployments/services/",
    "/deployments/services/new/",
    "/deployments/services/student-portal/edit/",
    "/deployments/unmatched/",
    "/deployments/freezes/",
    "/deployments/dora/",
    "/deployments/hooks/new/",
    "/deployments/rollbacks/",
    "/costs/",
    "/costs/breakdown/",
    "/costs/prices/",
    "/costs/prices/new/",
    "/costs/budgets/",
    "/costs/budgets/new/",
    "/costs/savings/",
    "/costs/sources/",
    "/costs/sources/new/",
    "/costs/sources/upload/",
    "/costs/sources/rules/",
    "/costs/anomalies/",
    "/regions/",
    "/regions/requests/",
    "/regions/requests/new/",
    "/access/teams/",
    "/access/teams/new/",
    "/access/teams/{team}/",
    "/access/roles/new/",
    "/access/grants/",
    "/access/grants/new/",
    "/access/sso-rules/",
    "/access/sso-rules/new/",
    "/access/reviews/new/",
    "/access/audit/",
    "/access/tokens/",
    "/approvals/",
]


@pytest.mark.parametrize("path", FORM_PAGES)
def test_pickers_name_people_and_empty_choices_in_words(
    path: str, client_for: Callable[[Persona | None], Client]
) -> None:
    path = path.format(team=Team.objects.get(slug="student-experience").pk)
    response = client_for(Persona.PLATFORM_ADMIN).get(path)

    assert response.status_code == 200, path
    html = response.content.decode()
    dashes = re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(?:(?!</select>).)*---------', html, re.S)
    assert not dashes, f"empty choices without words in {dashes}"
    assert "---------" not in html
    options = re.findall(r"<option[^>]*>([^<]*)</option>", html)
    usernames = {"developer", "lead", "manager", "admin", "auditor", "admin2", "admin3"}
    assert not usernames & {option.strip() for option in options}, "a person is picked by their name"


@pytest.mark.parametrize(
    ("path", "query", "said"),
    [
        ("/access/audit/", {"occurred_after": "yesterday"}, "From: Enter a valid date."),
        ("/environments/", {"status": "bogus"}, "Status: Select a valid choice."),
        ("/regions/", {"provider": "mars"}, "Provider: Select a valid choice."),
    ],
)
def test_a_filter_that_cannot_be_applied_is_named_by_its_label(
    path: str, query: dict[str, str], said: str, client_for: Callable[[Persona | None], Client]
) -> None:
    response = client_for(Persona.PLATFORM_ADMIN).get(path, query)

    html = response.content.decode()
    assert response.status_code == 200
    assert said in html
    assert f"{next(iter(query))}:" not in html
