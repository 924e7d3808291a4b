"""The Content Security Policy header, on pages and on the API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from portal.demo import Persona
from tests.test_settings import PRODUCTION, manage

# Every test here uses the demo: load it once per module, each test in its own savepoint (tests/fixtures.py).
pytestmark = pytest.mark.shared_demo

ClientFor = Callable[[Persona | None], Client]


def directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize(
    ("who", "url"),
    [
        (None, "/accounts/login/"),
        (Persona.DEVELOPER, "/"),
        (Persona.DEVELOPER, "/regions/"),
        (Persona.DEVELOPER, "/access/tokens/"),
        (Persona.DEVELOPER, "/api/regions/"),
        (Persona.DEVELOPER, "/api/docs/"),
        (Persona.PLATFORM_ADMIN, "/admin/"),
    ],
)
def test_every_answer_carries_a_strict_content_security_policy(
    client_for: ClientFor, who: Persona | None, url: str
) -> None:
    response = client_for(who).get(url)

    assert response.status_code == 200
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert not any("'unsafe-eval'" in values for values in policy.values())
    # Swagger UI styles itself inline, so the docs page alone allows inline style.
    assert policy["style-src"] == (["'self'", "'unsafe-inline'"] if url == "/api/docs/" else ["'self'"])


def test_pages_carry_no_inline_script(client_for: ClientFor) -> None:
    for url in ["/", "/regions/", "/access/tokens/", "/api/docs/"]:
        content = client_for(Persona.DEVELOPER).get(url).content.decode()
        scripts = content.split("<script")[1:]
        assert all(script.split(">", 1)[0].strip().startswith("src=") for script in scripts), url


def test_no_template_styles_an_element_inline_which_the_policy_would_block() -> None:
    # style-src 'self' drops every style="…" attribute: a template that relies on one is laid out wrongly.
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.BASE_DIR)
    templates = [path for path in root.glob("*/templates/**/*.html") if ".venv" not in path.parts]
    templates += list(root.glob("templates/**/*.html"))
    styled = [str(path.relative_to(root)) for path in templates if ' style="' in path.read_text()]

    assert templates
    assert styled == []


def test_the_pages_turn_off_htmxs_injected_indicator_style(client_for: ClientFor) -> None:
    content = client_for(Persona.DEVELOPER).get("/regions/").content.decode()

    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in content


def test_an_idp_origin_can_be_allowed_as_a_form_target() -> None:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(*settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action'])",
        environment={**PRODUCTION, "PORTAL_CSP_FORM_ACTION_ORIGINS": "https://login.microsoftonline.com"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "'self' https://login.microsoftonline.com"
