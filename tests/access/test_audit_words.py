"""Audit verbs in words on the pages: every verb has some, and the log and its filter use them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from access.audit import services as audit
from portal.demo import Persona


@pytest.mark.parametrize("verb", sorted(audit.verbs().values()))
def test_every_verb_reads_as_words(verb: str) -> None:
    words = audit.verb_label(verb)

    assert words[0].isupper()
    assert "_" not in words
    assert "." not in words
    assert words != verb


def test_some_verbs_in_words() -> None:
    assert audit.verb_label(audit.REGION_BUILD_STARTED) == "Region build started"
    assert audit.verb_label(audit.ENVIRONMENT_REQUESTED) == "Environment requested"
    assert audit.verb_label(audit.TEAM_CREATED) == "Team created"
    assert audit.verb_label(audit.MEMBER_ADDED) == "Team member added"
    assert audit.verb_label(audit.GRANT_REVOKED) == "Grant revoked"
    assert audit.verb_label(audit.SIGN_IN_FAILED) == "Sign-in failed"


@pytest.mark.django_db
def test_the_audit_log_names_actions_in_words_and_filters_by_them(
    client_for: Callable[[Persona | None], Client],
) -> None:
    client = client_for(Persona.AUDITOR)

    html = client.get("/access/audit/").content.decode()
    assert '<option value="access.grant_created">Grant created</option>' in html
    assert ">Grant created</a>" in html  # the demo's grants, as the log lists them
    assert "<code>access.grant_created</code>" not in html

    filtered = client.get("/access/audit/", {"verb": "access.grant_created"}).content.decode()
    assert ">Grant created</a>" in filtered
    assert ">Team created</a>" not in filtered
