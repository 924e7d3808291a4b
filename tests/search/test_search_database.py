"""Search in PostgreSQL: the application's own database role may run it, and the trigram indexes serve it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.models import User
from portal.database_roles import application_role_provision
from search import selectors
from tests.access.test_audit_database_roles import AUDIT_TABLE, connect_as
from tests.factories import TeamFactory, make_service

# The application's role logs in over a connection of its own, which sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

# The trigram indexes each kind's query (in the order of search.selectors.KINDS) should be able to use.
INDEXES = [
    {"service_name_trgm", "service_slug_trgm"},
    {"environment_name_trgm"},
    {"deployment_version_trgm"},
    {"cluster_name_trgm"},
    {"region_code_trgm", "region_display_name_trgm"},
    {"team_name_trgm", "team_slug_trgm"},
    {"user_username_trgm", "user_full_name_trgm"},
]


@pytest.fixture
def app_role() -> Iterator[tuple[str, str]]:
    """An application role made as migrate makes it (tests/access/test_audit_database_roles.py), then dropped."""
    role, password = f"portal_app_search_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
    application_role_provision(role=role, password=password, append_only=[AUDIT_TABLE])
    yield role, password
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


def search_sql(text: str) -> list[str]:
    """The SQL of every query a platform admin's search for ``text`` runs, as PostgreSQL received it."""
    everyone = User(username="search-sql", is_superuser=True, is_active=True)
    with CaptureQueriesContext(connection) as captured:
        selectors.search(user=everyone, text=text)
    return [query["sql"] for query in captured.captured_queries]


def test_the_application_role_runs_every_search_query(app_role: tuple[str, str]) -> None:
    role, password = app_role
    team = TeamFactory(slug="trigram-team", name="Trigram team")
    make_service(slug="trigram-service", name="Trigram service", team=team)
    queries = search_sql("trigram")
    assert len(queries) == len(selectors.KINDS)

    with connect_as(role, password) as session:
        assert session.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        counts = [len(session.execute(sql).fetchall()) for sql in queries]

    assert counts == [1, 0, 0, 0, 0, 1, 0]


@pytest.mark.parametrize("text", ["eu-west", "4.6"])
def test_each_kinds_query_can_use_its_trigram_index(text: str) -> None:
    """The filters are ones the trigram indexes serve: with whole-table reads made dear, the planner uses them.

    (On tables this small PostgreSQL reads them whole anyway; on large ones the indexes are what it takes.)
    """
    queries = search_sql(text)

    used: list[set[str]] = []
    with connection.cursor() as cursor:
        # Whole-table reads, in order or not, made dear: what is left is an index a condition of the query serves.
        cursor.execute("SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off")
        try:
            for sql, indexes in zip(queries, INDEXES, strict=True):
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(line for (line,) in cursor.fetchall())
                used.append({index for index in indexes if index in plan})
        finally:
            cursor.execute("RESET enable_seqscan; RESET enable_indexscan; RESET enable_indexonlyscan")

    assert used == INDEXES
