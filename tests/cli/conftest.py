"""The command-line client against a real portal: pytest-django's live server (a real HTTP server on the test
database) with real API tokens, the CLI called in-process through click's runner."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.utils import timezone
from portal_cli.main import cli

from access.models import Role, Team, User
from access.tokens import services as token_services
from environments import services as environment_services
from environments.models import Environment, EnvironmentTemplate
from portal.demo import Persona, username_of
from regions.models import Cluster


@dataclass
class Ran:
    """What one ``portal`` command did: its exit code, stdout and stderr."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


Portal = Callable[..., Ran]
TokenFor = Callable[..., str]


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ``portal login`` stores its sign-in in this test (nothing of the person running the tests is read)."""
    path = tmp_path / "config" / "portal" / "config.json"
    monkeypatch.setenv("PORTAL_CONFIG", str(path))
    monkeypatch.delenv("PORTAL_URL", raising=False)
    monkeypatch.delenv("PORTAL_TOKEN", raising=False)
    return path


@pytest.fixture
def portal(config_file: Path) -> Portal:
    """Run ``portal <args>`` in-process; ``env`` sets environment variables for that run only."""

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Ran:
        result = CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def token_for(demo: None) -> TokenFor:
    """A real API token of a demo person, acting with ``role`` on ``team`` (as the API tokens page makes one)."""

    made = itertools.count(1)

    def make(persona: Persona, *, team: str = "student-experience", role: str = "developer") -> str:
        created = token_services.api_token_create(
            actor=User.objects.get(username=username_of(persona)),
            name=f"ci {next(made)}",
            team=Team.objects.get(slug=team),
            role=Role.objects.get(slug=role),
            expires_at=timezone.now() + timedelta(days=30),
        )
        return created.secret

    return make


@pytest.fixture
def requested(demo: None) -> Callable[..., Environment]:
    """An environment a demo person asked for through the portal's own service (no worker provisions it)."""

    def request(name: str, *, template: str = "preview", by: Persona = Persona.DEVELOPER) -> Environment:
        return environment_services.environment_request(
            actor=User.objects.get(username=username_of(by)),
            team=Team.objects.get(slug="student-experience"),
            template=EnvironmentTemplate.objects.get(slug=template),
            cluster=Cluster.objects.get(name="eks-eu-west-1"),
            name=name,
        )

    return request


@pytest.fixture
def signed_in(live_server: Any, token_for: TokenFor) -> Callable[..., dict[str, str]]:
    """The environment variables a CI job sets: the live portal's address and a persona's token."""

    def env(persona: Persona, **token: str) -> dict[str, str]:
        return {"PORTAL_URL": live_server.url, "PORTAL_TOKEN": token_for(persona, **token)}

    return env
