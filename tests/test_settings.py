"""Settings come from the environment and fail fast, naming the variable at fault.

Each case starts `manage.py` in a fresh process with a controlled environment
(every ``PORTAL_*`` variable of the test run removed), because settings are
read once per process. `check` loads settings, apps and URLs but opens no
database or Redis connection, so the URLs below may point nowhere.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What a production start needs, and nothing else.
PRODUCTION = {
    "PORTAL_SECRET_KEY": secrets.token_urlsafe(50),
    "PORTAL_ALLOWED_HOSTS": "portal.example.com",
    "PORTAL_ENCRYPTION_KEYS": "dGVzdHMtb25seS1ub3QtYS1zZWNyZXQta2V5LTAwMDA=",
    "DATABASE_URL": "postgres://portal@db.example.com:5432/portal",
    "REDIS_URL": "redis://redis.example.com:6379/0",
    "PORTAL_AUDIT_KEYS": secrets.token_urlsafe(48),
    "PORTAL_AUDIT_CHECKPOINT_DIR": "/var/lib/portal/audit-checkpoints",
}


# Set by the test run itself (tests/fixtures.py sets DJANGO_ALLOW_ASYNC_UNSAFE for Playwright).
NOT_INHERITED = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `manage.py` with the production settings module and only ``environment`` configured."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PORTAL_") and name not in NOT_INHERITED
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def without(*names: str) -> dict[str, str]:
    return {name: value for name, value in PRODUCTION.items() if name not in names}


def assert_refused(result: subprocess.CompletedProcess[str], *expected_lines: str) -> None:
    """The process stopped with a readable configuration error, not a stack trace."""
    assert result.returncode != 0
    assert result.stderr.startswith("Configuration error: Invalid configuration:")
    assert "Traceback" not in result.stderr
    for line in expected_lines:
        assert line in result.stderr


def test_production_variables_pass_the_deployment_checklist() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_debug_mode_starts_with_only_the_database_and_redis_configured() -> None:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
        environment={"PORTAL_DEBUG": "true", **without("PORTAL_SECRET_KEY", "PORTAL_ALLOWED_HOSTS")},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True ['localhost', '127.0.0.1', '[::1]']"


@pytest.mark.parametrize(("behind_a_proxy", "expected"), [("false", "0 0"), ("true", "1 1")])
def test_sign_in_limits_and_the_api_throttle_count_the_same_client_address(behind_a_proxy: str, expected: str) -> None:
    """Behind the trusted proxy both take the address it appended to X-Forwarded-For; else the connection's."""
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; "
        "print(settings.ALLAUTH_TRUSTED_PROXY_COUNT, settings.REST_FRAMEWORK['NUM_PROXIES'])",
        environment={**PRODUCTION, "PORTAL_TRUST_X_FORWARDED_PROTO": behind_a_proxy},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_malformed_boolean_names_the_variable() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_DEBUG": "maybe"})

    assert_refused(result, "PORTAL_DEBUG: Not a valid boolean.")


@pytest.mark.parametrize(
    ("value", "message"),
    [("-5", "Must be greater than or equal to 0."), ("abc", "Not a valid integer.")],
)
def test_a_bad_hsts_duration_names_the_variable(value: str, message: str) -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_HSTS_SECONDS": value})

    assert_refused(result, f"PORTAL_HSTS_SECONDS: {message}")


@pytest.mark.parametrize(
    ("value", "message"),
    [("-1", "Must be greater than or equal to 0 and less than or equal to 3600."), ("slow", "Not a valid number.")],
)
def test_a_bad_sandbox_latency_names_the_variable(value: str, message: str) -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_SANDBOX_LATENCY_SECONDS": value})

    assert_refused(result, f"PORTAL_SANDBOX_LATENCY_SECONDS: {message}")


def test_an_unsupported_log_format_lists_the_supported_ones() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_LOG_FORMAT": "xml"})

    assert_refused(result, "PORTAL_LOG_FORMAT: Must be one of: json, text.")


def test_a_database_other_than_postgresql_is_refused() -> None:
    result = manage("check", environment={**PRODUCTION, "DATABASE_URL": "mysql://portal@db/portal"})

    assert_refused(result, "DATABASE_URL: must be a PostgreSQL URL")


def test_an_unknown_time_zone_names_the_variable() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_TIME_ZONE": "Mars/Olympus_Mons"})

    assert_refused(result, "PORTAL_TIME_ZONE: not a time zone name")


def test_an_unknown_language_code_names_the_variable() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_LANGUAGE_CODE": "klingon"})

    assert_refused(result, "PORTAL_LANGUAGE_CODE: not a language code such as en-gb or de.")


def test_the_chosen_locale_writes_the_numbers_while_django_keeps_speaking_english() -> None:
    """German separators for an operator who asks for de, but no German form error or month name on an English page."""
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from datetime import date; from decimal import Decimal; from django import forms; "
        "from django.utils.dateformat import format; from portal import numbers; "
        "print(numbers.money(Decimal('1234567.891'))); print(forms.CharField().error_messages['required']); "
        "print(format(date(2026, 12, 7), 'j M Y'))",
        environment={**PRODUCTION, "PORTAL_LANGUAGE_CODE": "de"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["1.234.567,89", "This field is required.", "7 Dec 2026"]


def test_a_misspelt_portal_variable_is_an_error_not_ignored() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_DEBGU": "1"})

    assert_refused(result, "PORTAL_DEBGU: unknown setting")


def test_the_command_line_clients_variables_in_the_same_shell_are_no_unknown_settings() -> None:
    client = {"PORTAL_URL": "https://portal.example.com", "PORTAL_TOKEN": "ppt_0123abcd_x", "PORTAL_CONFIG": "c.json"}

    result = manage("check", environment={**PRODUCTION, **client})

    assert result.returncode == 0, result.stderr


def test_a_missing_database_url_is_an_error() -> None:
    result = manage("check", environment=without("DATABASE_URL"))

    assert_refused(result, "DATABASE_URL: Environment variable not set.")


def test_the_secret_key_is_required_when_debug_is_off() -> None:
    result = manage("check", environment=without("PORTAL_SECRET_KEY"))

    assert_refused(result, "PORTAL_SECRET_KEY: Environment variable not set.")


def test_every_bad_variable_is_reported_in_one_go() -> None:
    result = manage(
        "check",
        environment={
            **without("REDIS_URL", "PORTAL_ALLOWED_HOSTS"),
            "PORTAL_DEBUG": "maybe",
            "PORTAL_HSTS_SECONDS": "abc",
            "PORTAL_LOG_FORMAT": "xml",
            "PORTAL_DEBGU": "1",
        },
    )

    assert_refused(
        result,
        "PORTAL_DEBUG: Not a valid boolean.",
        "PORTAL_HSTS_SECONDS: Not a valid integer.",
        "PORTAL_LOG_FORMAT: Must be one of: json, text.",
        "PORTAL_DEBGU: unknown setting",
        "PORTAL_ALLOWED_HOSTS: Environment variable not set.",
        "REDIS_URL: Environment variable not set.",
    )


def test_the_secret_key_can_be_read_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("  a-secret-from-a-mounted-file\n")

    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        environment={**without("PORTAL_SECRET_KEY"), "PORTAL_SECRET_KEY_FILE": str(secret_file)},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "a-secret-from-a-mounted-file"


def test_a_missing_secret_file_names_the_variable_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "not-mounted"

    result = manage("check", environment={**without("PORTAL_SECRET_KEY"), "PORTAL_SECRET_KEY_FILE": str(missing)})

    assert_refused(result, f"PORTAL_SECRET_KEY_FILE: cannot read '{missing}': No such file or directory.")


def test_a_malformed_email_url_names_the_variable() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_EMAIL_URL": "smtp://mail.example.com:port"})

    assert_refused(result, "PORTAL_EMAIL_URL: not an e-mail URL such as smtp://host:587")


def test_email_in_production_needs_the_portals_address_for_its_links() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_EMAIL_URL": "smtp://mail.example.com:587"})

    assert_refused(result, "PORTAL_BASE_URL")


# --- the audit log's keys, checkpoints and the owner's URL ---------------------------------------

PRINT_AUDIT = (
    "from django.conf import settings; from access.audit import services as audit;"
    "print(len(settings.AUDIT_KEYS), audit.signing_key().id, settings.AUDIT_CHECKPOINT_DIR)"
)


def test_the_audit_key_and_checkpoint_directory_are_required_when_debug_is_off() -> None:
    result = manage("check", environment=without("PORTAL_AUDIT_KEYS", "PORTAL_AUDIT_CHECKPOINT_DIR"))

    assert_refused(
        result,
        "PORTAL_AUDIT_KEYS: Environment variable not set.",
        "PORTAL_AUDIT_CHECKPOINT_DIR: Environment variable not set.",
    )


def test_a_short_audit_key_is_named_by_position_and_never_echoed() -> None:
    short = "short-but-maybe-a-real-secret"

    result = manage("check", environment={**PRODUCTION, "PORTAL_AUDIT_KEYS": f"{secrets.token_urlsafe(48)},{short}"})

    assert_refused(result, "PORTAL_AUDIT_KEYS: key 2 is shorter than 32 characters")
    assert short not in result.stderr


def test_an_audit_key_listed_twice_is_refused() -> None:
    key = secrets.token_urlsafe(48)

    result = manage("check", environment={**PRODUCTION, "PORTAL_AUDIT_KEYS": f"{key},{key}"})

    assert_refused(result, "PORTAL_AUDIT_KEYS: a key is listed twice.")


def test_audit_keys_are_read_from_a_file_newest_first(tmp_path: Path) -> None:
    from access.audit.keys import key_id

    newest, older = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    keys = tmp_path / "audit_keys"
    keys.write_text(f"{newest},{older}\n")

    result = manage(
        "shell",
        "--no-imports",
        "-c",
        PRINT_AUDIT,
        environment={**without("PORTAL_AUDIT_KEYS"), "PORTAL_AUDIT_KEYS_FILE": str(keys)},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", key_id(newest), "/var/lib/portal/audit-checkpoints"]


def test_debug_mode_derives_an_audit_key_and_keeps_checkpoints_under_the_data_directory(tmp_path: Path) -> None:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        PRINT_AUDIT,
        environment={
            "PORTAL_DEBUG": "true",
            "PORTAL_DATA_DIR": str(tmp_path),
            **without("PORTAL_SECRET_KEY", "PORTAL_AUDIT_KEYS", "PORTAL_AUDIT_CHECKPOINT_DIR"),
        },
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[::2] == ["1", str(tmp_path / "audit-checkpoints")]


def test_a_malformed_database_owner_url_names_the_variable() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_DATABASE_OWNER_URL": "mysql://owner@db/portal"})

    assert_refused(result, "PORTAL_DATABASE_OWNER_URL: must be a PostgreSQL URL")


def test_bad_outbound_settings_name_the_variable_and_the_value_at_fault() -> None:
    result = manage(
        "check",
        environment={
            **PRODUCTION,
            "PORTAL_CLUSTER_PRIVATE_NETWORKS": "10.20.0.0/16,centres",
            "PORTAL_COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS": "10.300.0.0/16",
            "PORTAL_COSTS_CHAT_WEBHOOK_HOSTS": "hooks.slack.com,https://evil.example/",
            "PORTAL_COSTS_CHAT_WEBHOOK_URL": "http://hooks.slack.com/services/x",
        },
    )

    assert_refused(
        result,
        "PORTAL_CLUSTER_PRIVATE_NETWORKS: 'centres' is not an IP network such as 10.20.0.0/16",
        "PORTAL_COSTS_CHAT_WEBHOOK_PRIVATE_NETWORKS: '10.300.0.0/16' is not an IP network",
        "PORTAL_COSTS_CHAT_WEBHOOK_HOSTS: 'https://evil.example/' is not a host name",
        "PORTAL_COSTS_CHAT_WEBHOOK_URL: not an https:// URL",
    )


PRINT_INSTALLATION = "from django.conf import settings; print(settings.INSTALLATION_ID)"


def test_the_installation_id_is_derived_from_the_secret_key_the_same_in_every_process() -> None:
    def installation(secret: str) -> str:
        environment = {**without("PORTAL_SECRET_KEY", "PORTAL_INSTALLATION_ID"), "PORTAL_SECRET_KEY": secret}
        result = manage("shell", "--no-imports", "-c", PRINT_INSTALLATION, environment=environment)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    first = installation("x" * 50)

    assert re.fullmatch(r"[a-z][a-z0-9]{7}", first)
    assert installation("x" * 50) == first
    assert installation("y" * 50) != first


def test_a_malformed_installation_id_names_the_variable() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_INSTALLATION_ID": "Portal-1"})

    assert_refused(result, "PORTAL_INSTALLATION_ID: Use 2 to 8 lower-case letters and digits, starting with a letter.")


def test_the_web_tiers_statement_deadline_reaches_every_database_connection() -> None:
    show = "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS'))"

    with_deadline = manage("shell", "-c", show, environment={**PRODUCTION, "PORTAL_DB_STATEMENT_TIMEOUT_MS": "8000"})
    without_deadline = manage("shell", "-c", show, environment=PRODUCTION)
    refused = manage("check", environment={**PRODUCTION, "PORTAL_DB_STATEMENT_TIMEOUT_MS": "soon"})

    assert with_deadline.returncode == 0, with_deadline.stderr
    assert "-c statement_timeout=8000" in with_deadline.stdout
    assert "statement_timeout" not in without_deadline.stdout
    assert_refused(refused, "PORTAL_DB_STATEMENT_TIMEOUT_MS")
