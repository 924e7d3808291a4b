"""Fixtures shared by the whole suite: demo data, personas, a real Celery
worker process and a real Chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from access.models import User
from portal.demo import DEMO_PASSWORD, Persona, load_demo, username_of

# Playwright's sync API runs an event loop in the test thread; Django's ORM
# calls from that thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
HAVE_CHROMIUM = Path(CHROMIUM).exists()


def pytest_report_header(config: pytest.Config) -> str | None:
    if HAVE_CHROMIUM:
        return f"browser tests: {CHROMIUM}"
    if IN_CI:
        return f"browser tests: {CHROMIUM} is missing and CI=true, so they will fail"
    return f"browser tests: SKIPPED, {CHROMIUM} is missing (install Debian's chromium to run them)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAVE_CHROMIUM or IN_CI:
        return
    missing = pytest.mark.skipif(True, reason=f"{CHROMIUM} is missing; install Debian's chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(missing)


# --- data and people -------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_redis() -> None:
    """Each test starts with this worker's Redis database empty: no cached result, throttle or lockout
    left by an earlier test or run."""
    from portal.health import redis_client

    redis_client().flushdb()


@pytest.fixture
def demo(db: None) -> None:
    """The demo platform of `make run`: regions, clusters, teams and personas."""
    load_demo()


@pytest.fixture
def persona(demo: None) -> Callable[[Persona], User]:
    """The demo user of a persona, e.g. ``persona(Persona.AUDITOR)``."""

    def get(which: Persona) -> User:
        return User.objects.get(username=username_of(which))

    return get


@pytest.fixture
def client_for(persona: Callable[[Persona], User]) -> Callable[[Persona | None], Client]:
    """A test client signed in as a persona's demo user (None: anonymous)."""

    def make(which: Persona | None) -> Client:
        client = Client()
        if which is not None:
            client.force_login(persona(which))
        return client

    return make


# --- a real Celery worker --------------------------------------------------


WorkerFactory = Callable[..., "subprocess.Popen[bytes]"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def start_celery_worker(transactional_db: None) -> Iterator[WorkerFactory]:
    """Starts real `celery worker` processes on the test database and the test Redis; stops them at the end.

    ``include`` names extra modules the worker imports (test-only tasks or
    workflows); ``env`` adds environment variables (``PORTAL_*`` settings).
    Tests using it need committed data, hence ``transactional_db``.
    """
    database = settings.DATABASES["default"]
    started: list[subprocess.Popen[bytes]] = []

    def start(include: tuple[str, ...] = (), env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--loglevel", "WARNING"]
        if include:
            command += ["--include", ",".join(include)]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "portal.settings_test",
                "TEST_DATABASE_NAME": str(database["NAME"]),
                "REDIS_URL": settings.REDIS_URL,
                **(env or {}),
            },
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        _stop(process)


@pytest.fixture
def celery_worker_process(start_celery_worker: WorkerFactory) -> subprocess.Popen[bytes]:
    """A real `celery worker` process on the test database and the test Redis.

    Asynchronous behaviour is proven against this, never in eager mode.
    """
    return start_celery_worker()


# --- a real browser --------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not HAVE_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing and CI=true: browser tests must run in CI")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, live_server: object) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url)  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def sign_in(page: object, demo: None) -> Callable[[str], None]:
    """Sign in through the real sign-in form as a demo user."""

    def sign_in_as(username: str) -> None:
        page.goto("/accounts/login/")  # type: ignore[attr-defined]
        page.get_by_label("Username").fill(username)  # type: ignore[attr-defined]
        page.get_by_label("Password").fill(DEMO_PASSWORD)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]

    return sign_in_as
