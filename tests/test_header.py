"""The header every page shares: a menu button that folds it on narrow screens, and the signed-in person's links.

How it lays out and folds in a real browser is tested in tests/browser/test_layout.py; here, what it holds.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from access.models import User
from portal.demo import Persona

# Every test here uses the demo or no database: load it once per module (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

ClientFor = Callable[[Persona | None], Client]


def test_the_header_folds_behind_a_labelled_menu_button_holding_the_sections_and_the_users_links(
    client_for: ClientFor,
) -> None:
    page = client_for(Persona.PLATFORM_ADMIN).get("/").content.decode()

    assert (
        '<button class="navbar-toggler" type="button" data-bs-toggle="collapse" data-bs-target="#navigation" '
        'aria-controls="navigation" aria-expanded="false" aria-label="Menu">'
    ) in page
    folded = page.split('<div class="collapse navbar-collapse" id="navigation">', 1)[1].split("</nav>", 1)[0]
    for link in ['href="/environments/"', 'href="/access/audit/"', 'href="/approvals/"', 'href="/notifications/"']:
        assert link in folded
    assert 'href="/access/tokens/">API tokens</a>' in folded
    assert ">Sign out</button>" in folded
    # Bootstrap's script folds and unfolds it: a file of the portal's own, which the CSP allows.
    assert '<script src="/static/vendor/bootstrap/js/bootstrap.bundle.min.js" defer></script>' in page


def test_the_account_menu_shows_the_persons_initials_and_names_them_in_full(client_for: ClientFor) -> None:
    page = client_for(Persona.PLATFORM_ADMIN).get("/").content.decode()

    assert '<span class="account-initials" aria-hidden="true">AN</span>' in page
    assert '<span class="visually-hidden">Account of Ada Nakamura</span>' in page
    assert "Signed in as Ada Nakamura" in page


def test_initials_come_from_the_names_or_else_the_username() -> None:
    assert User(username="g.hopper", first_name="grace", last_name=" Hopper").initials == "GH"
    assert User(username="plato", first_name="Plato", last_name="").initials == "P"
    assert User(username="ci-bot", first_name="", last_name="").initials == "C"


def test_the_approvals_link_says_when_it_is_the_page_shown(client_for: ClientFor) -> None:
    client = client_for(Persona.TEAM_LEAD)
    current = '<a class="nav-link active" href="/approvals/" aria-current="page">Approvals</a>'

    assert current in client.get("/approvals/").content.decode()
    assert current not in client.get("/").content.decode()
    assert '<a class="nav-link" href="/approvals/">Approvals</a>' in client.get("/").content.decode()


def test_no_one_signed_out_sees_a_menu(client_for: ClientFor) -> None:
    page = client_for(None).get("/accounts/login/").content.decode()

    assert "navbar-toggler" not in page
    assert "Sign out" not in page
