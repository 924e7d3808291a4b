"""PORTAL_ENCRYPTION_KEYS and PORTAL_PROVIDER_MODE: required or derived, validated at start-up."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from tests.test_settings import PRODUCTION, assert_refused, manage, without

PRINT_KEYS = "from django.conf import settings; print(len(settings.ENCRYPTION_KEYS), settings.PROVIDER_MODE)"


def test_production_refuses_to_start_without_encryption_keys() -> None:
    result = manage("check", environment=without("PORTAL_ENCRYPTION_KEYS"))

    assert_refused(result, "PORTAL_ENCRYPTION_KEYS: Environment variable not set.")


def test_a_malformed_key_is_named_by_position_and_never_echoed() -> None:
    bad = "not-a-fernet-key-but-maybe-a-secret"
    result = manage(
        "check", environment={**PRODUCTION, "PORTAL_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{bad}"}
    )

    assert_refused(result, "PORTAL_ENCRYPTION_KEYS: key 2 is not a Fernet key")
    assert bad not in result.stderr


def test_a_key_listed_twice_is_refused() -> None:
    key = Fernet.generate_key().decode()
    result = manage("check", environment={**PRODUCTION, "PORTAL_ENCRYPTION_KEYS": f"{key},{key}"})

    assert_refused(result, "PORTAL_ENCRYPTION_KEYS: a key is listed twice.")


def test_several_keys_are_read_newest_first_from_a_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}\n")

    result = manage(
        "shell",
        "--no-imports",
        "-c",
        PRINT_KEYS,
        environment={**without("PORTAL_ENCRYPTION_KEYS"), "PORTAL_ENCRYPTION_KEYS_FILE": str(keys)},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2 live"


def test_debug_derives_a_development_key_and_runs_the_sandbox() -> None:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        PRINT_KEYS,
        environment={"PORTAL_DEBUG": "true", **without("PORTAL_SECRET_KEY", "PORTAL_ENCRYPTION_KEYS")},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 sandbox"


def test_an_unknown_provider_mode_lists_the_supported_ones() -> None:
    result = manage("check", environment={**PRODUCTION, "PORTAL_PROVIDER_MODE": "mock"})

    assert_refused(result, "PORTAL_PROVIDER_MODE: Must be one of: sandbox, live.")
