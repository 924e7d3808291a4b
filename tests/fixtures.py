"""Fixtures shared by the whole suite: demo data, personas, a real Celery
worker process and a real Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from pytest_django import DjangoDbBlocker

from access.models import User
from portal.demo import DEMO_PASSWORD, Persona, load_demo, username_of

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

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
SHARED_DEMO = "shared_demo"
HAVE_CHROMIUM = Path(CHROMIUM).exists()


def pytest_report_header(config: pytest.Config) -> str | None:
    if HAVE_CHROMIUM:
        return f"browser tests: {CHROMIUM}"
    if IN_CI:
        return f"browser tests: {CHROMIUM} is missing and CI=true, so they will fail"
    return f"browser tests: SKIPPED, {CHROMIUM} is missing (install Debian's chromium to run them)"


# Tests of one module sent to one worker as a group. A module marked ``shared_demo`` loads the demo once
# per stretch of its tests a worker runs; spread test by test over the workers, every worker loads it for
# every such module. Grouped, each load serves up to this many tests, and a long module still spreads.
SHARED_DEMO_GROUP_SIZE = 400


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _group_shared_demo_modules(items)
    _skip_browser_tests_without_chromium(items)


def _group_shared_demo_modules(items: list[pytest.Item]) -> None:
    seen: dict[str, int] = {}
    for item in items:
        if item.get_closest_marker(SHARED_DEMO) is None or item.get_closest_marker("xdist_group") is not None:
            continue
        module = item.nodeid.split("::", 1)[0]
        index = seen[module] = seen.get(module, -1) + 1
        item.add_marker(pytest.mark.xdist_group(f"{module}#{index // SHARED_DEMO_GROUP_SIZE}"))


def _skip_browser_tests_without_chromium(items: list[pytest.Item]) -> None:
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


@pytest.fixture(autouse=True)
def fresh_audit_checkpoints() -> None:
    """Each test starts with no audit checkpoint: one left by an earlier test names an event of a database
    that was rolled back or flushed since, which is exactly what verification reports as tampering."""
    for checkpoint in Path(settings.AUDIT_CHECKPOINT_DIR).glob("*.jsonl"):
        checkpoint.unlink()


def _flush_past_the_audit_logs_truncate_guard() -> None:
    """Let the suite's database flushes (after transactional tests) empty the audit table too.

    The table refuses TRUNCATE (access/migrations/0007): the flush, run as the owner like the migrations,
    switches that trigger off for its own transaction only, as any owner could. The application's role,
    which owns nothing, cannot (tests/access/test_audit_database_roles.py).
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    table, trigger = "access_auditevent", "access_auditevent_no_truncate"
    original = DatabaseOperations.sql_flush

    def sql_flush(self: DatabaseOperations, style: Any, tables: Sequence[str], **options: bool) -> list[str]:
        statements = original(self, style, tables, **options)
        if table not in tables:
            return statements
        return [
            f"ALTER TABLE {table} DISABLE TRIGGER {trigger}",
            *statements,
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}",
        ]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign, assignment]


_flush_past_the_audit_logs_truncate_guard()


# Fixtures whose tests need committed data (a live server, a Celery worker process): the shared demo is
# uncommitted, so such a test in a shared-demo module would see nothing, and flushing its database at the
# end would wipe the demo the rest of the module reads.
COMMITTED_DATA_FIXTURES = frozenset({"transactional_db", "live_server", "django_db_reset_sequences"})


def shares_the_demo(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker(SHARED_DEMO) is not None


@pytest.fixture(scope="module")
def _demo_for_the_module(
    request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> Iterator[bool]:
    """In a module marked ``shared_demo``: the demo loaded once, in a transaction rolled back after the module.

    Each test still runs in pytest-django's own transaction (``db``), which nests as a savepoint in
    this one, so whatever a test writes is rolled back before the next test starts from the demo
    exactly as loaded. Elsewhere it does nothing and ``demo`` loads the demo per test.
    Being module-scoped, pytest sets it up before any function-scoped ``db``; with pytest-xdist
    each worker loads it once per stretch of the module's tests it runs.
    """
    if request.node.get_closest_marker(SHARED_DEMO) is None:
        yield False
        return
    with django_db_blocker.unblock():
        module_transaction = transaction.atomic()
        module_transaction.__enter__()
        try:
            load_demo()
        except BaseException:
            module_transaction.__exit__(*sys.exc_info())
            raise
    try:
        yield True
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            module_transaction.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _only_demo_tests_share_the_demo(request: pytest.FixtureRequest) -> None:
    """A module marked ``shared_demo`` may only hold tests that use the demo or no database at all.

    A test there that wants an empty database would see the demo another test loaded (or not,
    depending on order), and one that needs committed data cannot see it; both are refused here
    rather than passing or failing by accident.
    """
    if not shares_the_demo(request):
        return
    uses = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    wants_committed_data = marker is not None and (
        marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences") or (marker.args and marker.args[0])
    )
    if uses & COMMITTED_DATA_FIXTURES or wants_committed_data:
        pytest.fail(f"{request.node.nodeid} needs committed data: move it out of this shared_demo module")
    if ("db" in uses or marker is not None) and "demo" not in uses:
        pytest.fail(f"{request.node.nodeid} uses the database without the demo: move it out of this shared_demo module")


@pytest.fixture
def demo(_demo_for_the_module: bool, db: None) -> None:
    """The demo platform of `make run`: regions, clusters, teams and personas.

    Loaded for each test, or once for the module in a module marked ``pytest.mark.shared_demo``
    (then ``db`` puts each test in a savepoint inside the module's transaction).
    """
    if not _demo_for_the_module:
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


# A desktop screen, where the header shows every section and the user's links in one row (below 1400 px
# they fold behind its menu button); a test of another size sets its own with page.set_viewport_size.
DESKTOP: ViewportSize = {"width": 1440, "height": 900}


@pytest.fixture
def page(browser: object, live_server: object) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)  # type: ignore[attr-defined]
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


def sign_out(page: Any) -> None:
    """Sign out through the header's account menu, as someone at a desktop screen does."""
    page.get_by_role("button", name=re.compile(r"^Account of ")).click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
