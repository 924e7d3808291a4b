"""gunicorn as the container image runs it (the Dockerfile's command, production settings), on the test database.

Shared by tests/test_production.py and the load benchmark (bench/bench_load.py): both read the
server command from the Dockerfile itself, so a change there is exercised as written, and both
reach the server as a browser behind the ingress does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
from django.conf import settings

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


def server_command(port: int, options: Sequence[str] = ("--workers", "1")) -> list[str]:
    """The image's default command (gunicorn) on a loopback port, with ``options`` (``--flag value`` pairs)
    in place of the Dockerfile's values of the same flags, or added after them."""
    command = json.loads(next(arguments for keyword, arguments in dockerfile_instructions() if keyword == "CMD"))
    pairs = ["--bind", f"127.0.0.1:{port}", *options]
    if len(pairs) % 2:
        raise ValueError(f"gunicorn options must come as --flag value pairs, not {list(options)}")
    for option, value in zip(pairs[::2], pairs[1::2], strict=True):
        if option in command:
            command[command.index(option) + 1] = value
        else:
            command += [option, value]
    return [in_this_checkout(word) for word in command]


def bare_environment(**variables: str) -> dict[str, str]:
    """What a process in the image starts with: no variable of this test run (no test settings, no DEBUG).

    The image puts its venv first on PATH; so does this, with the test's venv.
    """
    keep = {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    return {**keep, "PATH": path, "PYTHONUNBUFFERED": "1", **variables}


def server_environment(*, data_dir: Path, home: Path) -> dict[str, str]:
    """The production settings' variables for a server on this test run's database and Redis.

    ``data_dir`` holds the collected static files (STATIC_ROOT is under it).
    """
    return bare_environment(
        HOME=str(home),
        PORTAL_SECRET_KEY="production-test-only-not-a-secret",
        PORTAL_ALLOWED_HOSTS="localhost",
        PORTAL_ENCRYPTION_KEYS=os.environ["PORTAL_ENCRYPTION_KEYS"],  # the test settings' key: reads what they wrote
        PORTAL_AUDIT_KEYS=os.environ["PORTAL_AUDIT_KEYS"],  # and signs audit events the test settings verify
        PORTAL_AUDIT_CHECKPOINT_DIR=str(settings.AUDIT_CHECKPOINT_DIR),
        DATABASE_URL=database_url(str(settings.DATABASES["default"]["NAME"])),
        REDIS_URL=settings.REDIS_URL,
        PORTAL_DATA_DIR=str(data_dir),
        # TLS ends at the ingress, which says so in X-Forwarded-Proto (docs/operations.md, "Container image").
        PORTAL_TRUST_X_FORWARDED_PROTO="true",
        PORTAL_LOG_LEVEL="WARNING",
    )


class BehindTheIngress:
    """A browser whose TLS ends at the ingress in front of gunicorn: the ingress says so in X-Forwarded-Proto.

    The portal's cookies are Secure (``__Host-``), which a client of a plain
    http:// URL would not send back; the browser spoke HTTPS, so they go back here.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.origin = base_url.replace("http://", "https://")
        self.cookies: dict[str, str] = {}

    @property
    def headers(self) -> dict[str, str]:
        """What the ingress adds to every request it passes on, and the browser's Origin."""
        return {"X-Forwarded-Proto": "https", "Origin": self.origin}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
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

    def sign_in(self, username: str, password: str) -> requests.Response:
        """Sign in through the sign-in form, as a person does; the answer is the redirect that follows."""
        form = self.request("GET", "/accounts/login/")
        assert form.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None
        signed_in = self.request(
            "POST",
            "/accounts/login/",
            data={"csrfmiddlewaretoken": token[1], "login": username, "password": password},
            headers={"Referer": f"{self.origin}/accounts/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:2000]
        assert "__Host-sessionid" in self.cookies
        return signed_in
