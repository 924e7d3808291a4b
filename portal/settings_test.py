"""The test suite's small override of :mod:`portal.settings`.

Tests run with production defaults (DEBUG off) except where a test needs
otherwise; the variables below are only defaults, the environment wins.
"""

import os
from pathlib import Path

os.environ.setdefault("PORTAL_SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("PORTAL_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("PORTAL_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("PORTAL_LOG_LEVEL", "WARNING")
# A fixed Fernet key that guards nothing real.
os.environ.setdefault("PORTAL_ENCRYPTION_KEYS", "dGVzdHMtb25seS1ub3QtYS1zZWNyZXQta2V5LTAwMDA=")
os.environ.setdefault("PORTAL_PROVIDER_MODE", "sandbox")
# Cloud names that must be unique across a cloud carry it (see providers/names.py).
os.environ.setdefault("PORTAL_INSTALLATION_ID", "tests")
# The SSO tests' identity provider is a real process on 127.0.0.1 speaking plain http (no certificate
# to trust): allow a loopback issuer, as production may for a sidecar. Any other http issuer stays refused.
os.environ.setdefault("PORTAL_SSO_ALLOW_HTTP_LOOPBACK_ISSUERS", "true")
# A fixed audit key that guards nothing real.
os.environ.setdefault("PORTAL_AUDIT_KEYS", "tests-only-audit-key-not-a-secret-00000000")
# The sandbox's resources come up at once: a waiting step need not wait the production five seconds.
os.environ.setdefault("PORTAL_WORKFLOW_RECHECK_SECONDS", "0.5")

# Each pytest-xdist worker gets its own Redis database, so caches and
# heartbeats of parallel tests never meet.
# pytest's controller process loads these settings before it starts the workers, which inherit
# its environment: remember the URL as given, so every worker derives its own database from it.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
_given = os.environ.setdefault("TEST_REDIS_BASE_URL", os.environ.get("REDIS_URL", "")).rstrip("/")
if _given.endswith("/0") and _worker.isdigit():
    os.environ["REDIS_URL"] = _given[:-1] + str(int(_worker) + 1)
# Likewise a directory of audit checkpoints per worker (each has its own database), emptied before each test.
_checkpoints = os.environ.setdefault(
    "TEST_AUDIT_CHECKPOINT_BASE",
    os.path.join(os.environ.get("PORTAL_DATA_DIR", Path(__file__).resolve().parent.parent / ".data"), "test-audit"),
)
os.environ["PORTAL_AUDIT_CHECKPOINT_DIR"] = os.path.join(_checkpoints, f"gw{_worker}")

from portal.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # type: ignore[assignment]  # served by the finders; nothing is collected in tests
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# "__Host-" cookies need HTTPS; the live server of the browser tests speaks plain HTTP.
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"

# A Celery worker started by a test works on that test's database.
if _test_database := os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = _test_database  # noqa: F405
