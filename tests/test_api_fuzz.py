"""Every operation of the API, called with inputs generated from its own schema, as a platform admin and as a
developer (each with a named API token): no input answers a server error, and every answer a documented status
has conforms to the schema.

Schemathesis reads the schema /api/schema/ serves and calls the app in this process through WSGI, so every call runs
in the test's transaction and is rolled back after it; nothing reaches a worker (work is enqueued on commit, and
the test never commits) and the cloud is the sandbox in the test's own directory. A few examples per operation,
derandomised, without shrinking, keep it to about a minute; a failure names the operation and the request. (Each
operation is a test of its own, parametrised here rather than by ``schema.parametrize``, whose items all share one
node id under pytest 9.2, so xdist would run only one of them.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, given, settings, strategies
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.result import Err

from access.models import Role, Team, User
from access.tokens import services as token_services
from portal.demo import Persona

pytestmark = [pytest.mark.django_db, pytest.mark.shared_demo]

# Which role each persona's token carries, on which team.
TOKENS = {
    Persona.PLATFORM_ADMIN: ("platform_admin", "core-platform"),
    Persona.DEVELOPER: ("developer", "student-experience"),
}


def token_for(user: User, persona: Persona) -> str:
    role, team = TOKENS[persona]
    made = token_services.api_token_create(
        actor=user,
        name=f"fuzz {persona.value}",
        team=Team.objects.get(slug=team),
        role=Role.objects.get(slug=role),
        expires_at=timezone.now() + timedelta(days=1),
    )
    return made.secret


@pytest.fixture
def sandbox(demo: None, settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path  # the sandbox cloud and clusters of this test's own
    settings.PORTAL_DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def bearer(sandbox: Path, persona: Callable[[Persona], User]) -> Callable[[Persona], dict[str, str]]:
    secrets: dict[Persona, str] = {}

    def headers(which: Persona) -> dict[str, str]:
        if which not in secrets:
            secrets[which] = token_for(persona(which), which)
        return {"Authorization": f"Bearer {secrets[which]}"}

    return headers


@pytest.fixture
def app(sandbox: Path) -> Iterator[Any]:
    """The project's WSGI application, its requests keeping the test's database connection as Django's test
    client does (a request's start and end would otherwise close it, and the transaction the test rolls back)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def served_schema() -> dict[str, Any]:
    """What /api/schema/ serves (the same generator and renderer), made once when the tests are collected: one
    test per operation then, which xdist spreads over its workers."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    rendered: dict[str, Any] = json.loads(OpenApiJsonRenderer().render(generated, renderer_context={}))
    return rendered


schema = schemathesis.openapi.from_dict(served_schema())


def operations() -> dict[str, APIOperation[Any, Any, Any, Any]]:
    """Every operation of the schema by its label ("GET /api/regions/"); a part the schema gets wrong fails here."""
    found: dict[str, APIOperation[Any, Any, Any, Any]] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found[result.ok().label] = result.ok()
    return found


OPERATIONS = operations()

# A few examples per operation, the same ones every run, and no shrinking: the first failing request is
# reported as it was sent.
FUZZ = settings(
    max_examples=5,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.mark.parametrize("who", list(TOKENS), ids=lambda persona: str(persona.value))
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_no_input_answers_a_server_error_or_breaks_the_schema(
    operation: str, who: Persona, app: Any, bearer: Callable[[Persona], dict[str, str]]
) -> None:
    """Inputs that fit the schema and inputs that do not (which must be refused in a 4xx, not a 5xx)."""
    headers = bearer(who)
    fitting = OPERATIONS[operation].as_strategy(GenerationMode.POSITIVE)
    unfitting = OPERATIONS[operation].as_strategy(GenerationMode.NEGATIVE)

    @FUZZ
    @given(case=strategies.one_of(fitting, unfitting))
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(app=app, headers=headers, checks=CHECKS)

    call()
