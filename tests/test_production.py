"""Production mode, as the container image runs it: the static build and gunicorn with DEBUG off.

The rest of the suite runs with the test settings, which serve static files
from the finders and never collect them; a production server stores them
under hashed names (the manifest storage) and refuses to render a page whose
static file is missing from the manifest. These tests read the build step and
the server command from the Dockerfile itself, so a change there is tested
as written.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from access import services as access_services
from access.models import Role, Team, User
from access.permissions import BuiltinRole
from portal.demo import DEMO_PASSWORD, Persona, load_demo, username_of
from portal.devstack import free_port, listens, stop
from tests.helpers import database_url

ROOT = Path(__file__).resolve().parent.parent
# Where the image puts the locked dependencies; here the test's own interpreter and its venv stand in.
IMAGE_VENV = "/app/.venv/bin/"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (keyword, arguments), continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def in_this_checkout(word: str) -> str:
    """A command word of the image, for this machine: the image's venv is this test's venv."""
    if word.startswith(IMAGE_VENV):
        name = word.removeprefix(IMAGE_VENV)
        return sys.executable if name.startswith("python") else str(Path(sys.executable).parent / name)
    return word


def collectstatic_step() -> tuple[dict[str, str], list[str]]:
    """The build-only variables and the command of the Dockerfile's collectstatic step."""
    step = next(arguments for keyword, arguments in dockerfile_instructions() if "collectstatic" in arguments)
    words = shlex.split(step)
    command = words[: words.index("&&")] if "&&" in words else words
    variables = {}
    while re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", command[0]):
        name, _, value = command.pop(0).partition("=")
        variables[name] = value
    return variables, [in_this_checkout(word) for word in command]


def server_command(port: int) -> list[str]:
    """The image's default command (gunicorn), on a loopback port with one worker."""
    command = json.loads(next(arguments for keyword, arguments in dockerfile_instructions() if keyword == "CMD"))
    for option, value in (("--bind", f"127.0.0.1:{port}"), ("--workers", "1")):
        command[command.index(option) + 1] = value
    return [in_this_checkout(word) for word in command]


def bare_environment(**variables: str) -> dict[str, str]:
    """What a process in the image starts with: no variable of this test run (no test settings, no DEBUG).

    The image puts its venv first on PATH; so does this, with the test's venv.
    """
    keep = {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    return {**keep, "PATH": path, "PYTHONUNBUFFERED": "1", **variables}


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory the Dockerfile's collectstatic step collected into (STATIC_ROOT is under it)."""
    data_dir = tmp_path_factory.mktemp("image-data")
    variables, command = collectstatic_step()
    assert "PORTAL_DEBUG" not in variables, "the image's static build must run with DEBUG off"
    build = subprocess.run(
        command,
        cwd=ROOT,
        env=bare_environment(**variables, PORTAL_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"the image's collectstatic step failed:\n{build.stdout}\n{build.stderr}"
    return data_dir


def test_the_image_build_collects_every_static_file_under_hashed_names(collected: Path) -> None:
    manifest = json.loads((collected / "staticfiles" / "staticfiles.json").read_text())["paths"]

    for name in ("portal/portal.css", "vendor/chartjs/chart.umd.min.js", "vendor/bootstrap/css/bootstrap.min.css"):
        hashed = manifest[name]
        assert hashed != name, f"{name} was not stored under a hashed name"
        assert (collected / "staticfiles" / hashed).exists()
        assert (collected / "staticfiles" / f"{hashed}.gz").exists(), f"{name} has no compressed copy"


@pytest.fixture
def server_home(tmp_path: Path) -> Path:
    """The home directory of the image's user: the server must write nothing there (the root file system may be
    read-only)."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def production_server(collected: Path, server_home: Path, transactional_db: None) -> Iterator[str]:
    """gunicorn as the image starts it, with production settings, on the test database and Redis."""
    port = free_port()
    environment = bare_environment(
        HOME=str(server_home),
        PORTAL_SECRET_KEY="production-test-only-not-a-secret",
        PORTAL_ALLOWED_HOSTS="localhost",
        PORTAL_ENCRYPTION_KEYS=os.environ["PORTAL_ENCRYPTION_KEYS"],  # the test settings' key: reads what they wrote
        PORTAL_AUDIT_KEYS=os.environ["PORTAL_AUDIT_KEYS"],  # and signs audit events the test settings verify
        PORTAL_AUDIT_CHECKPOINT_DIR=str(settings.AUDIT_CHECKPOINT_DIR),
        DATABASE_URL=database_url(str(settings.DATABASES["default"]["NAME"])),
        REDIS_URL=settings.REDIS_URL,
        PORTAL_DATA_DIR=str(collected),
        # TLS ends at the ingress, which says so in X-Forwarded-Proto (docs/operations.md, "Container image").
        PORTAL_TRUST_X_FORWARDED_PROTO="true",
        PORTAL_LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen(server_command(port), cwd=ROOT, env=environment, start_new_session=True)
    try:
        assert listens(port, server, timeout=60), "gunicorn did not start with the production settings"
        yield f"http://localhost:{port}"
    finally:
        stop([server])


class BehindTheIngress:
    """A browser whose TLS ends at the ingress in front of gunicorn: the ingress says so in X-Forwarded-Proto.

    The portal's cookies are Secure (``__Host-``), which a client of a plain
    http:// URL would not send back; the browser spoke HTTPS, so they go back here.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.origin = base_url.replace("http://", "https://")
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-Forwarded-Proto": "https", "Origin": self.origin, **kwargs.pop("headers", {})}
        response = requests.request(
            method,
            f"{self.base_url}{path}",
            headers=headers,
            cookies=self.cookies,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        self.cookies.update({cookie.name: cookie.value for cookie in response.cookies if cookie.value})
        return response


def test_gunicorn_with_production_settings_serves_a_signed_in_page_the_api_and_static_files(
    production_server: str, server_home: Path
) -> None:
    load_demo()
    developer = User.objects.get(username=username_of(Persona.DEVELOPER))
    # The test settings hash with MD5 for speed; the production settings accept only their own hashers.
    hasher = PBKDF2PasswordHasher()
    developer.password = hasher.encode(DEMO_PASSWORD, hasher.salt())
    developer.save(update_fields=["password"])
    browser = BehindTheIngress(production_server)

    sign_in = browser.request("GET", "/accounts/login/")
    assert sign_in.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', sign_in.text)
    assert token is not None
    signed_in = browser.request(
        "POST",
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token[1], "login": developer.username, "password": DEMO_PASSWORD},
        headers={"Referer": f"{browser.origin}/accounts/login/"},
    )
    assert signed_in.status_code == 302, signed_in.text[:2000]
    assert "__Host-sessionid" in browser.cookies

    page = browser.request("GET", signed_in.headers["Location"])
    assert page.status_code == 200
    assert developer.first_name in page.text
    page = browser.request("GET", "/environments/")
    assert page.status_code == 200
    stylesheet = re.search(r'href="(/static/portal/portal\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet is not None, "the page does not link the portal's stylesheet under its hashed name"

    static = browser.request("GET", stylesheet[1], headers={"Accept-Encoding": "gzip"})
    assert static.status_code == 200
    assert static.text == (ROOT / "static" / "portal" / "portal.css").read_text()
    assert static.headers["Content-Encoding"] == "gzip"
    assert "immutable" in static.headers["Cache-Control"]

    new_token = access_services.api_token_create(
        actor=developer,
        name="production test",
        team=Team.objects.get(slug="student-experience"),
        role=Role.objects.get(slug=BuiltinRole.DEVELOPER),
        expires_at=timezone.now() + timedelta(days=1),
    )
    api = requests.get(
        f"{production_server}/api/regions/",
        headers={"Authorization": f"Bearer {new_token.secret}", "X-Forwarded-Proto": "https"},
        timeout=30,
    )
    assert api.status_code == 200
    assert "eu-west-1" in {region["code"] for region in api.json()["results"]}

    missing = browser.request("GET", "/no-such-page/")
    assert missing.status_code == 404
    assert "DEBUG = True" not in missing.text, "a production server showed Django's debug page"
    written = [str(path.relative_to(server_home)) for path in server_home.rglob("*")]
    assert not written, f"the server wrote into its user's home directory, which may be read-only: {written}"
