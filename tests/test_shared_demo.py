"""The ``shared_demo`` marker of tests/fixtures.py: one load of the demo per module, each test in its own savepoint.

The tests here run on one xdist worker, in order (``xdist_group``), so the second of each pair
sees what the first left behind, if anything was.
"""

from __future__ import annotations

import pytest

from access.models import Team, User
from portal.demo import Persona, username_of

pytestmark = [pytest.mark.shared_demo, pytest.mark.xdist_group("shared_demo")]

LEFT_BEHIND = "left-behind-by-a-test"
first_seen: dict[str, int] = {}


@pytest.mark.parametrize("attempt", ["first", "second"])
def test_a_test_starts_from_the_demo_as_loaded_whatever_an_earlier_test_wrote(attempt: str, demo: None) -> None:
    assert not Team.objects.filter(slug=LEFT_BEHIND).exists(), f"the {attempt} test sees an earlier test's team"
    assert {username_of(persona) for persona in Persona} <= set(User.objects.values_list("username", flat=True))

    Team.objects.create(slug=LEFT_BEHIND, name="Left behind")
    User.objects.filter(username=username_of(Persona.AUDITOR)).delete()


@pytest.mark.parametrize("attempt", ["first", "second"])
def test_the_demo_is_loaded_once_for_the_module(attempt: str, demo: None) -> None:
    # Sequences are not rolled back: a demo loaded again for this test would give its team a new id.
    team = Team.objects.get(slug="student-experience")

    assert first_seen.setdefault("student-experience", team.pk) == team.pk, f"the {attempt} test got a fresh demo"
