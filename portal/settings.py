"""Django settings for Platform Portal.

Everything that differs between a laptop and production comes from the
environment through :mod:`portal.env`; docs/operations.md lists every variable.
"""

from __future__ import annotations

import hashlib
import hmac
import zoneinfo
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
import django_stubs_ext
import xstatic.pkg.bootstrap
from django.conf import global_settings
from django_guid.integrations import CeleryIntegration
from environs import validate
from marshmallow import ValidationError

from access.audit.keys import development_audit_key, validate_audit_keys
from access.sso import allauth_apps, form_action_origins, parse_providers, plain_http_policy, providers_validator
from portal.assets import ASSETS_DIR
from portal.crypto import development_key, validate_keys
from portal.env import EMAIL_URL_PATTERN, env, parse_email_url, seal
from providers.outbound import parse_hosts, parse_networks

# Lets admin and DRF generics be subscripted at run time, as the type stubs expect.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def _host_names(values: list[str]) -> None:
    """environs' validator for lists of host names such as ``hooks.slack.com`` or ``.example.com``."""
    try:
        parse_hosts(values)
    except ValueError as error:
        raise ValidationError(str(error)) from None


def _networks(values: list[str]) -> None:
    """environs' validator for lists of IP networks such as ``10.20.0.0/16``."""
    try:
        parse_networks(values)
    except ValueError as error:
        raise ValidationError(str(error)) from None


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
# The locale of the numbers on pages (docs/operations.md, "Configuration"): 1,234.50 in en-gb, 1.234,50 in de; see
# portal/numbers.py and USE_I18N below.
LANGUAGE_CODE = env.str(
    "PORTAL_LANGUAGE_CODE",
    "en-gb",
    validate=validate.OneOf(
        sorted(code for code, _name in global_settings.LANGUAGES), error="not a language code such as en-gb or de."
    ),
)
LOG_LEVEL = env.str("PORTAL_LOG_LEVEL", "INFO", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
LOG_FORMAT = env.str("PORTAL_LOG_FORMAT", "json", validate=validate.OneOf(["json", "text"]))
SECURE_SSL_REDIRECT = env.bool("PORTAL_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env.int("PORTAL_HSTS_SECONDS", 0 if DEBUG else 31_536_000, validate=validate.Range(min=0))
# Behind a TLS-terminating proxy (ingress, load balancer) that sets this header.
TRUST_X_FORWARDED_PROTO = env.bool("PORTAL_TRUST_X_FORWARDED_PROTO", False)
WORKER_HEARTBEAT_SECONDS = env.int("PORTAL_WORKER_HEARTBEAT_SECONDS", 10, validate=validate.Range(min=1))
# A worker owns a workflow run this long without renewing; a dead worker's run is resumed after it.
WORKFLOW_LEASE_SECONDS = env.float("PORTAL_WORKFLOW_LEASE_SECONDS", 120, validate=validate.Range(min=1))
# How soon a step waiting for a cloud resource to come up (a cluster, a database, a replica) asks again.
WORKFLOW_RECHECK_SECONDS = env.float("PORTAL_WORKFLOW_RECHECK_SECONDS", 5, validate=validate.Range(min=0.1, max=600))
DATABASE_URL = env.str(
    "DATABASE_URL",
    validate=validate.Regexp(
        r"^(postgres|postgresql|pgsql)://",
        error="must be a PostgreSQL URL (postgresql://…): PostgreSQL is the one database.",
    ),
)
# The role that owns the schema (docs/operations.md, "Database roles"): `migrate` connects as it and gives the role of
# DATABASE_URL only the privileges the application needs. Unset: migrate connects as DATABASE_URL's role.
DATABASE_OWNER_URL = env.str(
    "PORTAL_DATABASE_OWNER_URL",
    "",
    validate=validate.Regexp(r"^$|^(postgres|postgresql|pgsql)://", error="must be a PostgreSQL URL (postgresql://…)."),
)
REDIS_URL = env.str("REDIS_URL")
AUDIT_VERIFY_SECONDS = env.int("PORTAL_AUDIT_VERIFY_SECONDS", 3600, validate=validate.Range(min=60))
# The audit log's HMAC keys (docs/access.md, "Audit log"), newest first: the first signs, all verify. They must never be
# stored in the database; required unless DEBUG (`make run` generates one under .data/).
AUDIT_KEYS: list[str] = env.list(
    "PORTAL_AUDIT_KEYS",
    [development_audit_key(SECRET_KEY)] if DEBUG else ...,  # type: ignore[arg-type]
    validate=validate_audit_keys,
)
# Where the signed checkpoints of the audit chain are written: a directory outside the database (a mounted volume
# or bucket the database's users cannot write). Required unless DEBUG.
AUDIT_CHECKPOINT_DIR = env.path(
    "PORTAL_AUDIT_CHECKPOINT_DIR",
    DATA_DIR / "audit-checkpoints" if DEBUG else ...,  # type: ignore[arg-type]
)
# Sign-in (docs/access.md, "Sign-in and SSO"): identity providers, and how many failed sign-ins lock out for how long.
# Issuers must be https; plain http only with DEBUG, or for a loopback issuer when asked for (the tests' IdP).
SSO_PLAIN_HTTP = plain_http_policy(
    debug=bool(DEBUG), allow_loopback=bool(env.bool("PORTAL_SSO_ALLOW_HTTP_LOOPBACK_ISSUERS", False))
)
SSO_PROVIDERS_RAW = env.json("PORTAL_SSO_PROVIDERS", [], validate=providers_validator(SSO_PLAIN_HTTP))
SIGN_IN_FAILURES_PER_USER = env.int("PORTAL_SIGN_IN_FAILURES_PER_USER", 5, validate=validate.Range(min=1))
SIGN_IN_FAILURES_PER_IP = env.int("PORTAL_SIGN_IN_FAILURES_PER_IP", 30, validate=validate.Range(min=1))
SIGN_IN_LOCKOUT_MINUTES = env.int("PORTAL_SIGN_IN_LOCKOUT_MINUTES", 15, validate=validate.Range(min=1))
# API authentication (docs/api.md, "API authentication").
JWT_ACCESS_MINUTES = env.int("PORTAL_JWT_ACCESS_MINUTES", 5, validate=validate.Range(min=1, max=60))
JWT_REFRESH_HOURS = env.int("PORTAL_JWT_REFRESH_HOURS", 24, validate=validate.Range(min=1, max=24 * 30))
# Empty: derived from SECRET_KEY (see SIMPLE_JWT below).
JWT_SIGNING_KEY = env.str(
    "PORTAL_JWT_SIGNING_KEY",
    "",
    validate=validate.Regexp(r"^(|.{32,})$", error="must be at least 32 characters, or unset to derive it."),
)
API_SIGN_IN_RATE = env.str(
    "PORTAL_API_SIGN_IN_RATE",
    "10/minute",
    validate=validate.Regexp(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$", error="must look like 10/minute."),
)
API_TOKEN_MAX_DAYS = env.int("PORTAL_API_TOKEN_MAX_DAYS", 365, validate=validate.Range(min=1, max=3650))
# Sessions and browser security (docs/access.md, "Sessions and browser security").
SESSION_IDLE_MINUTES = env.int("PORTAL_SESSION_IDLE_MINUTES", 60, validate=validate.Range(min=1))
SESSION_MAX_HOURS = env.int("PORTAL_SESSION_MAX_HOURS", 12, validate=validate.Range(min=1))
# Origins a form may be sent to besides the portal itself, e.g. the IdP's, whose
# sign-in starts with a form POST answered by a redirect there (CSP form-action).
CSP_FORM_ACTION_ORIGINS: list[str] = env.list("PORTAL_CSP_FORM_ACTION_ORIGINS", [])
# How often beat closes access reviews whose deadline has passed.
ACCESS_REVIEW_SWEEP_SECONDS = env.int("PORTAL_ACCESS_REVIEW_SWEEP_SECONDS", 900, validate=validate.Range(min=10))
# How many hours before an environment expires its owners are warned (once per threshold and expiry).
ENVIRONMENT_EXPIRY_WARNINGS: list[int] = env.list(
    "PORTAL_ENVIRONMENT_EXPIRY_WARNING_HOURS", [24, 1], subcast=int, validate=lambda hours: all(h > 0 for h in hours)
)
# Whether rolling back a production workload waits for an approval (deployments.approve, not the requester).
DEPLOYMENTS_PRODUCTION_ROLLBACK_APPROVAL = env.bool("PORTAL_DEPLOYMENTS_PRODUCTION_ROLLBACK_APPROVAL", True)
# Secrets at rest (docs/operations.md, "Secrets"): Fernet keys, newest first; required unless DEBUG.
ENCRYPTION_KEYS: list[str] = env.list(
    "PORTAL_ENCRYPTION_KEYS",
    [development_key(SECRET_KEY)] if DEBUG else ...,  # type: ignore[arg-type]
    validate=validate_keys,
)
# Notification e-mail (docs/workflows.md, "Notifications"): smtp://user:password@host:587/?tls=True, console://, or
# empty for in-portal notifications only. The URL may hold a password: PORTAL_EMAIL_URL_FILE reads it from a file.
EMAIL_URL = env.str(
    "PORTAL_EMAIL_URL",
    "console://" if DEBUG else "",
    validate=validate.Regexp(EMAIL_URL_PATTERN, error="not an e-mail URL such as smtp://host:587"),
)
EMAIL_ENABLED = bool(EMAIL_URL)
_email = parse_email_url(EMAIL_URL)
EMAIL_BACKEND = _email.get("EMAIL_BACKEND") or "django.core.mail.backends.dummy.EmailBackend"
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = int(_email.get("EMAIL_PORT") or 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or str(DATA_DIR / "mail")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("PORTAL_EMAIL_FROM", "Platform Portal <portal@localhost>")
# Where people reach the portal, for links in e-mails.
BASE_URL = env.str(
    "PORTAL_BASE_URL",
    "http://localhost:8000" if DEBUG or not EMAIL_ENABLED else ...,  # type: ignore[arg-type]
    validate=validate.URL(require_tld=False, schemes={"http", "https"}),
)
# Whether provider drivers talk to the clouds ("live") or to the simulated sandbox.
PROVIDER_MODE = env.str(
    "PORTAL_PROVIDER_MODE", "sandbox" if DEBUG else "live", validate=validate.OneOf(["sandbox", "live"])
)
# A short id of this installation (2 to 8 lower-case letters and digits, starting with a letter), part of the
# cloud names that are unique across a whole cloud (S3 buckets, Azure PostgreSQL servers, Redis caches, storage
# accounts), so two installations never claim the same name. Unset: derived from PORTAL_SECRET_KEY, the same in
# every process of the installation.
INSTALLATION_ID = (
    env.str(
        "PORTAL_INSTALLATION_ID",
        "",
        validate=validate.Regexp(
            r"^([a-z][a-z0-9]{1,7})?$", error="Use 2 to 8 lower-case letters and digits, starting with a letter."
        ),
    )
    or "p" + hashlib.sha256(b"platform-portal installation\0" + f"{SECRET_KEY}".encode()).hexdigest()[:7]
)
# Private networks where the API servers of kubeconfig clusters may live (on-prem k3s centres), e.g. 10.20.0.0/16;
# without them a kubeconfig's server must be a public address (docs/operations.md, "Outbound requests").
CLUSTER_PRIVATE_NETWORKS: list[str] = env.list("PORTAL_CLUSTER_PRIVATE_NETWORKS", [], validate=_networks)
# How long a resource of the simulated cloud stays "creating" before it is "available" (make run: 2).
SANDBOX_LATENCY_SECONDS = env.float("PORTAL_SANDBOX_LATENCY_SECONDS", 0.0, validate=validate.Range(min=0, max=3600))
# CI/CD webhooks (deployments app): the largest body accepted, and how old an event may be when it arrives.
WEBHOOK_MAX_BODY_BYTES = env.int("PORTAL_WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, validate=validate.Range(min=1024))
WEBHOOK_MAX_AGE_HOURS = env.int("PORTAL_WEBHOOK_MAX_AGE_HOURS", 24, validate=validate.Range(min=1))

# How often beat syncs every cluster's workloads and Argo CD applications
# (docs/deployments.md, "Deployments: cluster sync").
DEPLOYMENTS_SYNC_SECONDS = env.int("PORTAL_DEPLOYMENTS_SYNC_SECONDS", 300, validate=validate.Range(min=10))
# Scorecards (docs/deployments.md, "Scorecards"): how often beat evaluates every service against every scorecard.
SCORECARDS_EVALUATE_SECONDS = env.int("PORTAL_SCORECARDS_EVALUATE_SECONDS", 3600, validate=validate.Range(min=60))
# Savings recommendations (docs/costs.md, "Costs: savings"): how often beat recomputes them, and the assumptions
# behind the estimates, each named on the page next to the figure it produced.
COST_SAVINGS_SECONDS = env.int("PORTAL_COST_SAVINGS_SECONDS", 6 * 3600, validate=validate.Range(min=60))
# The lifetime suggested for a non-production environment that has none or a longer one.
COST_SAVINGS_SUGGESTED_TTL_HOURS = env.int(
    "PORTAL_COST_SAVINGS_SUGGESTED_TTL_HOURS", 7 * 24, validate=validate.Range(min=1)
)
# What spot capacity saves over on-demand, as a fraction of the on-demand price (0.6: 60 % less).
COST_SAVINGS_SPOT_DISCOUNT = env.decimal(
    "PORTAL_COST_SAVINGS_SPOT_DISCOUNT", Decimal("0.6"), validate=validate.Range(min=0, max=1)
)
# What a lifecycle rule to cold storage saves, as a fraction of a bucket's monthly storage price.
COST_SAVINGS_LIFECYCLE_FRACTION = env.decimal(
    "PORTAL_COST_SAVINGS_LIFECYCLE_FRACTION", Decimal("0.4"), validate=validate.Range(min=0, max=1)
)
# A namespace using less than this fraction of what it requests (CPU and memory alike) is over-requested.
COST_SAVINGS_USAGE_THRESHOLD = env.decimal(
    "PORTAL_COST_SAVINGS_USAGE_THRESHOLD", Decimal("0.5"), validate=validate.Range(min=0, max=1)
)

# How long one Kubernetes cost-allocation sample slot is; beat samples every cluster with allocation on this often.
COST_ALLOCATION_SAMPLE_SECONDS = env.int(
    "PORTAL_COST_ALLOCATION_SAMPLE_SECONDS", 3600, validate=validate.Range(min=60, max=86400)
)
# Cost sources (docs/costs.md, "Costs: sources"): how often enabled sources are imported, when a closed month counts as
# final, what Cost Explorer charges per request, and the largest FOCUS file the browser may upload.
COSTS_IMPORT_HOURS = env.float("PORTAL_COSTS_IMPORT_HOURS", 6, validate=validate.Range(min=0.25))
COSTS_FINAL_AFTER_DAYS = env.int("PORTAL_COSTS_FINAL_AFTER_DAYS", 5, validate=validate.Range(min=1, max=60))
# Disaster recovery targets (spec section 10): the data a failover may lose, and how long the service may be down.
DR_RPO_MINUTES = env.int("PORTAL_DR_RPO_MINUTES", 15, validate=validate.Range(min=1, max=24 * 60))
DR_RTO_HOURS = env.int("PORTAL_DR_RTO_HOURS", 2, validate=validate.Range(min=1, max=72))
# How often the workers check every region's resources and DR readiness (the region pages read the last check).
REGION_HEALTH_CHECK_SECONDS = env.int("PORTAL_REGION_HEALTH_CHECK_SECONDS", 300, validate=validate.Range(min=30))
# How long a passing permissions pre-flight of an account is trusted when a build starts (then checked again).
ACCESS_CHECK_FRESH_MINUTES = env.int(
    "PORTAL_ACCESS_CHECK_FRESH_MINUTES", 60, validate=validate.Range(min=0, max=7 * 24 * 60)
)
COSTS_COST_EXPLORER_REQUEST_USD = env.decimal(
    "PORTAL_COSTS_COST_EXPLORER_REQUEST_USD", Decimal("0.01"), validate=validate.Range(min=0)
)
COSTS_UPLOAD_MAX_BYTES = env.int("PORTAL_COSTS_UPLOAD_MAX_BYTES", 50 * 1024 * 1024, validate=validate.Range(min=1024))
# FOCUS uploads are streamed; these bound what one file may hold once
# decompressed, so a small .csv.gz cannot stand for an unbounded amount of work.
COSTS_UPLOAD_MAX_DECOMPRESSED_BYTES = env.int(
    "PORTAL_COSTS_UPLOAD_MAX_DECOMPRESSED_BYTES", 512 * 1024 * 1024, validate=validate.Range(min=1024)
)
COSTS_UPLOAD_MAX_ROWS = env.int("PORTAL_COSTS_UPLOAD_MAX_ROWS", 1_000_000, validate=validate.Range(min=1))
# One file of an export read from S3 or Blob (a provider writes a month in files of up to a few GB each).
COSTS_EXPORT_MAX_DECOMPRESSED_BYTES = env.int(
    "PORTAL_COSTS_EXPORT_MAX_DECOMPRESSED_BYTES", 32 * 1024**3, validate=validate.Range(min=1024)
)
COSTS_EXPORT_MAX_ROWS = env.int("PORTAL_COSTS_EXPORT_MAX_ROWS", 100_000_000, validate=validate.Range(min=1))

# Budgets and anomalies (docs/costs.md, "Costs: budgets, alerts and anomalies"): how often beat evaluates every
# budget and looks for anomalies (both are idempotent: each crossing and each anomalous day is told once).
COSTS_BUDGET_EVALUATE_SECONDS = env.int("PORTAL_COSTS_BUDGET_EVALUATE_SECONDS", 3600, validate=validate.Range(min=60))
COSTS_ANOMALY_DETECT_SECONDS = env.int("PORTAL_COSTS_ANOMALY_DETECT_SECONDS", 3600, validate=validate.Range(min=60))
# A day is anomalous when its spend is above the previous days' mean plus this many standard deviations…
COSTS_ANOMALY_BASELINE_DAYS = env.int("PORTAL_COSTS_ANOMALY_BASELINE_DAYS", 14, validate=validate.Range(min=3))
COSTS_ANOMALY_SIGMAS = env.decimal("PORTAL_COSTS_ANOMALY_SIGMAS", Decimal(3), validate=validate.Range(min=0))
# …and at least this much above the mean (in the cost's own currency), so small teams' noise is not news.
COSTS_ANOMALY_MIN_INCREASE = env.decimal(
    "PORTAL_COSTS_ANOMALY_MIN_INCREASE", Decimal(50), validate=validate.Range(min=0)
)
# A Slack- or Teams-compatible incoming webhook told of every budget alert and anomaly (a budget may name its own).
# The URL's path is a secret: PORTAL_COSTS_CHAT_WEBHOOK_URL_FILE reads it from a file; it is never logged.
COSTS_CHAT_WEBHOOK_URL = env.str(
    "PORTAL_COSTS_CHAT_WEBHOOK_URL", "", validate=validate.Regexp(r"^$|^https://", error="not an https:// URL")
)
# Every chat webhook URL (docs/operations.md, "Outbound requests"): when hosts are listed, only those
# (".example.com": its subdomains too); private networks are refused unless listed here (cloud metadata
# addresses always are).
COSTS_CHAT_WEBHOOK_HOSTS: list[str] = env.list("PORTAL_COSTS_CHAT_WEBHOOK_HOSTS", [], validate=_host_names)
COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS: list[str] = env.list(
    "PORTAL_COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS", [], validate=_networks
)
# Chat posts that fail are retried this many times, waiting this long, doubled each time.
COSTS_CHAT_RETRIES = env.int("PORTAL_COSTS_CHAT_RETRIES", 5, validate=validate.Range(min=0, max=10))
COSTS_CHAT_RETRY_SECONDS = env.float("PORTAL_COSTS_CHAT_RETRY_SECONDS", 30, validate=validate.Range(min=0, max=300))

# The web tier's deadline for one SQL statement (0: none): a page stuck behind a slow query answers 503 with
# Retry-After instead of holding a worker; set it on web processes only (migrations and workers run long queries).
DATABASE_STATEMENT_TIMEOUT_MS = env.int(
    "PORTAL_DB_STATEMENT_TIMEOUT_MS", 0, validate=validate.Range(min=0, max=3_600_000)
)

# How long a request may have waited before the portal begins on it (from the X-Request-Start the ingress
# stamps) before it is answered 503 with Retry-After instead of served to a client that has likely given up
# (0: never); see docs/operations.md, "Sizing the web tier".
REQUEST_QUEUE_TIMEOUT_SECONDS = env.float(
    "PORTAL_REQUEST_QUEUE_TIMEOUT_SECONDS", 5.0, validate=validate.Range(min=0, max=3600)
)

seal()

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASE_STATEMENT_TIMEOUT_MS:
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}".strip()

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    # Trigram lookups, expressions and indexes (pg_trgm) for the portal's search.
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "django_guid",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "csp",
    "portal",
    "access",
    "regions",
    "workflows",
    "notifications",
    "approvals",
    "costs",
    "environments",
    "deployments",
    "search",
    "scorecards",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
]

MIDDLEWARE = [
    "portal.middleware.HealthProbeMiddleware",
    # Before anything reads a session or the database: a request that queued too long costs nothing more.
    "portal.middleware.QueueDeadlineMiddleware",
    "portal.middleware.RequestIdGuardMiddleware",
    "portal.middleware.DatabaseDeadlineMiddleware",
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    # An ETag on every whole GET answer (a hash of its body) and 304 Not Modified to a client that already has
    # it: API lists and pages revalidate without the body crossing the network again.
    "django.middleware.http.ConditionalGetMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "access.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages: an expired session is ended with a message on the sign-in page.
    "access.middleware.SessionTimeoutMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "access.middleware.BreakGlassMfaMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A NUL character in an API query parameter is a 400 before any view passes it to a query.
    "portal.middleware.ApiQueryTextMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "access.User"
# Passwords are checked by allauth's backend (Django's ModelBackend underneath); every
# permission question (the admin's too) goes to the policy.
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend", "access.backends.PolicyBackend"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

# Sign-in through django-allauth: local accounts (the break-glass administrator) by
# username and password with MFA, everyone else through an OpenID Connect provider.
ACCOUNT_ADAPTER = "access.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "access.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_PREVENT_ENUMERATION = True
# Failed sign-ins are counted in Redis (CACHES below), so a lockout outlives a restart of the web processes.
# One count per client address ("ip") and one per normalised username ("key", access.adapters.sign_in_key),
# shared by the sign-in form, re-authentication and the API's password grant (access.services.api_sign_in).
ACCOUNT_RATE_LIMITS = {
    "login_failed": (
        f"{SIGN_IN_FAILURES_PER_IP}/{SIGN_IN_LOCKOUT_MINUTES}m/ip,"
        f"{SIGN_IN_FAILURES_PER_USER}/{SIGN_IN_LOCKOUT_MINUTES}m/key"
    ),
}
# The client address of those counts: the connection's, or behind the one trusted proxy the address it
# appended to X-Forwarded-For (as the API throttle's NUM_PROXIES below); never an address the client made up.
ALLAUTH_TRUSTED_PROXY_COUNT = 1 if TRUST_X_FORWARDED_PROTO else 0
SSO_PROVIDERS = parse_providers(SSO_PROVIDERS_RAW, plain_http=SSO_PLAIN_HTTP)
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": allauth_apps(SSO_PROVIDERS)}}
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_AUTO_SIGNUP = True
# Never match an IdP identity to an existing account by its e-mail: that is how accounts are taken over.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Encrypts the TOTP key and the recovery-code seed with PORTAL_ENCRYPTION_KEYS (docs/operations.md, "Secrets").
MFA_ADAPTER = "access.adapters.MfaAdapter"
MFA_TOTP_ISSUER = "Platform Portal"

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
                "notifications.context_processors.unread",
            ],
        },
    },
]

# Form widgets render through TEMPLATES, but a select is written in Python (portal/form_renderer.py).
FORM_RENDERER = "portal.form_renderer.PortalFormRenderer"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# LANGUAGE_CODE is read above, with the other variables. The portal's words are English whatever the locale: translation
# stays off, so Django's own messages (form errors, month names, "3 minutes ago") never switch to the locale's language
# in the middle of an English page, while numbers still follow it.
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
# Front-end libraries are Python packages pinned in uv.lock, served by WhiteNoise.
# Vendored front-end assets: Bootstrap from its xstatic wheel, the rest from npm at install (portal/assets.py).
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", xstatic.pkg.bootstrap.BASE_DIR),
    ("vendor", str(ASSETS_DIR)),
]
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
# No page script reads the CSRF cookie: forms, htmx (hx-headers) and Swagger UI take the token from the page.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# "__Host-" cookies are only accepted over HTTPS, for this host alone (no Domain), on path "/":
# a sibling subdomain cannot plant or overwrite them. Plain HTTP (DEBUG) keeps Django's names.
SESSION_COOKIE_NAME = "__Host-sessionid" if SESSION_COOKIE_SECURE else "sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken" if CSRF_COOKIE_SECURE else "csrftoken"
# The absolute limit also bounds the cookie and the stored session; the idle limit is
# enforced by access.middleware.SessionTimeoutMiddleware.
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
SESSION_IDLE_SECONDS = SESSION_IDLE_MINUTES * 60
SESSION_MAX_SECONDS = SESSION_MAX_HOURS * 3600
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

# Content Security Policy (django-csp): nothing inline, nothing from elsewhere, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the blank favicon of the layout and the icons inside Swagger UI's CSS.
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # Signing in with an identity provider posts a form that redirects to the provider.
        "form-action": ["'self'", *form_action_origins(SSO_PROVIDERS), *CSP_FORM_ACTION_ORIGINS],
        "frame-ancestors": ["'none'"],
    }
}

REST_FRAMEWORK = {
    # The first class answers unauthenticated calls with 401 and `WWW-Authenticate: Bearer`.
    # API tokens come before JWT: both are Bearer tokens, and only API tokens start with "ppt_".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.ApiTokenAuthentication",
        "access.authentication.JwtAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_RATES": {"api_sign_in": API_SIGN_IN_RATE},
    # Whose address a throttle counts: never a client-supplied X-Forwarded-For (that would let a
    # caller pick a fresh address per guess); behind the one trusted proxy, the address it appended.
    "NUM_PROXIES": 1 if TRUST_X_FORWARDED_PROTO else 0,
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.PolicyPermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's three parsers, refusing text with a NUL character (PostgreSQL cannot hold it) in a 400.
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.JSONParser",
        "portal.api.parsers.FormParser",
        "portal.api.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=JWT_ACCESS_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=JWT_REFRESH_HOURS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    # One key per purpose: unless set on its own, the JWT key is derived from SECRET_KEY, so
    # a JWT signature can never pass for one of Django's signatures (sessions, password
    # resets) or the other way round; rotating SECRET_KEY ends every JWT too.
    "SIGNING_KEY": JWT_SIGNING_KEY or hmac.new(SECRET_KEY.encode(), b"platform-portal jwt", hashlib.sha256).hexdigest(),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # A password change ends the access tokens issued before it.
    "CHECK_REVOKE_TOKEN": True,
    "CHECK_USER_IS_ACTIVE": True,
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
    # One schema name per choice set used by several serializers (or sharing a field name with another).
    "ENUM_NAME_OVERRIDES": {
        "NamespaceGroupEnum": "environments.choices.NamespaceGroup",
        "ProviderEnum": "regions.choices.Provider",
        "CiProviderEnum": "deployments.choices.CiProvider",
        "CostSourceKindEnum": "costs.choices.SourceKind",
        "AttributionRuleKindEnum": "costs.choices.RuleKind",
        "AddonSizeEnum": "regions.models.ADDON_SIZES",
        "ApprovalStatusEnum": "approvals.models.ApprovalStatus",
        "WorkflowRunStatusEnum": "workflows.models.RunStatus",
        "WorkflowStepStatusEnum": "workflows.models.StepStatus",
        "WorkflowDirectionEnum": "workflows.models.Direction",
        "ScorecardCheckKindEnum": "scorecards.choices.CheckKind",
        "RecommendationKindEnum": "costs.choices.RecommendationKind",
    },
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
    "audit-verify-chain": {"task": "access.audit_tasks.verify_audit_chain", "schedule": AUDIT_VERIFY_SECONDS},
    # Workflow runs whose wait is over, whose worker died or whose message was lost are enqueued again.
    "workflows-sweep": {"task": "workflows.sweep", "schedule": 30.0},
    # Environments past their lifetime are torn down; their owners are warned before (ENVIRONMENT_EXPIRY_WARNINGS).
    "environments-expire": {"task": "environments.expire", "schedule": 60.0},
    # Notification e-mail the mail server refused or could not take is tried again for a day.
    "notifications-retry-emails": {"task": "notifications.retry_emails", "schedule": 600.0},
    # Every cluster in service: its workloads and Argo CD applications (one sync per cluster at a time).
    "deployments-sync": {"task": "deployments.sync_clusters", "schedule": float(DEPLOYMENTS_SYNC_SECONDS)},
    # Savings recommendations: computed from the rollups, the inventory and the cloud drivers, read by the page.
    "costs-savings": {"task": "costs.compute_savings", "schedule": float(COST_SAVINGS_SECONDS)},
    # Enabled cost sources: this month and last, until the provider is done with them (costs/sources/load.py).
    "costs-import": {"task": "costs.import_sources", "schedule": COSTS_IMPORT_HOURS * 3600},
    # Budgets: thresholds on actual and forecast spend crossed since the last run are told (once each).
    "costs-evaluate-budgets": {"task": "costs.evaluate_budgets", "schedule": float(COSTS_BUDGET_EVALUATE_SECONDS)},
    # Anomalies: the last complete day's spend per team and service against the days before (once per day).
    "costs-detect-anomalies": {"task": "costs.detect_anomalies", "schedule": float(COSTS_ANOMALY_DETECT_SECONDS)},
    # Every service against every scorecard: each rule's result, the level reached and the day's history row.
    "scorecards-evaluate": {"task": "scorecards.evaluate", "schedule": float(SCORECARDS_EVALUATE_SECONDS)},
    # Every region's resources and DR readiness, asked of the clouds; the region pages read the last answer.
    "regions-check-health": {"task": "regions.check_health", "schedule": float(REGION_HEALTH_CHECK_SECONDS)},
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task modules autodiscovery does not find (it looks for `tasks` only).
CELERY_IMPORTS = ["access.audit.tasks"]
# Kubernetes cost allocation: every cluster with allocation on, sampled once per slot (docs/costs.md, "Costs").
CELERY_IMPORTS.append("costs.allocation.tasks")
CELERY_BEAT_SCHEDULE["costs-allocation-sample"] = {
    "task": "costs.allocation.sample_clusters",
    # Twice a slot: a beat that drifts still samples every slot, and the second sample replaces the first.
    "schedule": COST_ALLOCATION_SAMPLE_SECONDS / 2,
}
CELERY_IMPORTS += ["costs.savings.tasks"]
CELERY_IMPORTS += ["costs.budgets.tasks"]

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
    "filters": {
        "request_id": {"()": "django_guid.log_filters.CorrelationId"},
        # Secrets (passwords, tokens, keys, connection-string passwords) never reach a log line.
        "redact": {"()": "portal.logging.RedactSecrets"},
    },
    "formatters": {
        "json": {"()": "portal.logging.formatter", "kind": "json"},
        "text": {"()": "portal.logging.formatter", "kind": "text"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact", "request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}
