"""Django settings for Platform Portal.

Everything that differs between a laptop and production comes from the
environment through :mod:`portal.env`; the README lists every variable.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path

import dj_database_url
import django_stubs_ext
import xstatic.pkg.bootstrap
from django_guid.integrations import CeleryIntegration
from environs import validate

from portal.env import env, seal

# Lets admin and DRF generics be subscripted at run time, as the type stubs expect.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env.bool("PORTAL_DEBUG", False)
# Local state of `make run` / `make test` (embedded PostgreSQL and Redis, collected static files).
DATA_DIR = env.path("PORTAL_DATA_DIR", BASE_DIR / ".data")
# Required unless DEBUG: `...` is environs' "no default".
SECRET_KEY = env.str("PORTAL_SECRET_KEY", "insecure-local-development-key" if DEBUG else ...)  # type: ignore[arg-type]
ALLOWED_HOSTS = env.list("PORTAL_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else ...)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("PORTAL_CSRF_TRUSTED_ORIGINS", [])
TIME_ZONE = env.str(
    "PORTAL_TIME_ZONE",
    "UTC",
    validate=validate.OneOf(
        sorted(zoneinfo.available_timezones()), error="not a time zone name such as Europe/Dublin."
    ),
)
LOG_LEVEL = env.str("PORTAL_LOG_LEVEL", "INFO", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
LOG_FORMAT = env.str("PORTAL_LOG_FORMAT", "json", validate=validate.OneOf(["json", "text"]))
SECURE_SSL_REDIRECT = env.bool("PORTAL_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env.int("PORTAL_HSTS_SECONDS", 0 if DEBUG else 31_536_000, validate=validate.Range(min=0))
# Behind a TLS-terminating proxy (ingress, load balancer) that sets this header.
TRUST_X_FORWARDED_PROTO = env.bool("PORTAL_TRUST_X_FORWARDED_PROTO", False)
WORKER_HEARTBEAT_SECONDS = env.int("PORTAL_WORKER_HEARTBEAT_SECONDS", 10, validate=validate.Range(min=1))
DATABASE_URL = env.str(
    "DATABASE_URL",
    validate=validate.Regexp(
        r"^(postgres|postgresql|pgsql)://",
        error="must be a PostgreSQL URL (postgresql://…): PostgreSQL is the one database.",
    ),
)
REDIS_URL = env.str("REDIS_URL")
# How often beat closes access reviews whose deadline has passed.
ACCESS_REVIEW_SWEEP_SECONDS = env.int("PORTAL_ACCESS_REVIEW_SWEEP_SECONDS", 900, validate=validate.Range(min=10))

seal()

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "django_guid",
    "portal",
    "access",
    "regions",
]

MIDDLEWARE = [
    "portal.middleware.HealthProbeMiddleware",
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "access.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "access.User"
# Passwords are checked by Django; every permission question (the admin's too) goes to the policy.
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "access.backends.PolicyBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
# Front-end libraries are Python packages pinned in uv.lock, served by WhiteNoise.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/bootstrap", xstatic.pkg.bootstrap.BASE_DIR)]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "portal",
    }
}

# Security: secure cookies and headers whenever the portal is not in DEBUG.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = False
# Preloading is decided for a whole registrable domain (apex and every subdomain),
# not by one internal service on it, and cannot quickly be undone; so no preload,
# and `check --deploy` should not warn about it (security.W021).
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.PolicyPermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Platform Portal API",
    "DESCRIPTION": "Environments, deployments, costs, regions and access of the internal developer platform.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["portal.api.permissions.SignedIn"],
}

FILTERS_EMPTY_CHOICE_LABEL = "Any"

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# django-celery-beat's DatabaseScheduler copies these into its tables at start-up (admins may change them there).
CELERY_BEAT_SCHEDULE = {
    # Access reviews past their deadline: pending grants are revoked as unreviewed, the outcome kept.
    "access-expire-overdue-reviews": {
        "task": "access.tasks.expire_overdue_reviews",
        "schedule": ACCESS_REVIEW_SWEEP_SECONDS,
    },
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": False,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True)],
    "UUID_LENGTH": 32,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "django_guid.log_filters.CorrelationId"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "correlation_id": "request_id",
            },
        },
        "text": {"format": "%(asctime)s %(levelname)-7s [%(correlation_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}
